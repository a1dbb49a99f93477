"""Which lead field each column of an imported file fills, and each row as a lead to create.

A column is known by its header, compared folded (case, spaces, underscores and dashes aside),
under the name of a field or one of its aliases; a mapping can say otherwise. Columns no field
takes are kept in the lead's ``custom`` data. A row is checked as the lead API checks a lead,
with the dates and statuses files carry, and gets its import key.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError

from leadline.errors import ValidationFailed
from leadline.kit import tables
from leadline.kit.jsonsafe import canonical_json
from leadline.kit.reporting import MIN_YEAR
from leadline.kit.tables import Cell, TableRow
from leadline.kit.time import iso_micros
from leadline.leads import service as leads
from leadline.leads.schemas import LeadCreate, LeadStatus, parse_status
from leadline.models import CLICK_ID_FIELDS, CONSENT_FIELDS, UTM_FIELDS

# A created date may be this far ahead of the clock (a server a little ahead, a time zone).
FUTURE_SLACK = timedelta(days=1)
# A cell's value quoted in an error is cut to this many characters.
QUOTED_VALUE = 100
# What a mapping gives a column to leave it out.
IGNORE = "-"
# The longest loss reason, as PATCH /api/leads takes it.
MAX_LONG_TEXT = 65_536


# ------------------------------------------------------------------------------------ fields


@dataclass(frozen=True)
class ImportField:
    """A field a column can fill: its name here, the name people see (the lead API's), and
    other headers that mean it. Headers are compared folded (see :func:`fold`)."""

    name: str
    label: str
    aliases: tuple[str, ...] = ()


_UTM_ALIASES: dict[str, tuple[str, ...]] = {
    "utm_source": ("source",),
    "utm_medium": ("medium",),
    "utm_campaign": ("campaign",),
}
FIELDS: tuple[ImportField, ...] = (
    ImportField("external_id", "id", ("externalid", "leadid", "recordid", "importid", "crmid")),
    ImportField("name", "name", ("fullname", "contact", "contactname", "leadname")),
    ImportField("first_name", "firstName", ("givenname", "first", "forename")),
    ImportField("last_name", "lastName", ("surname", "familyname", "last")),
    ImportField("email", "email", ("emailaddress", "mail")),
    ImportField(
        "phone",
        "phone",
        ("phonenumber", "telephone", "tel", "mobile", "mobilephone", "mobilenumber", "cellphone"),
    ),
    ImportField("status", "status", ("leadstatus", "stage")),
    ImportField("value", "value", ("amount", "dealvalue", "leadvalue", "revenue")),
    ImportField("currency", "currency", ("currencycode",)),
    ImportField(
        "created_at",
        "createdAt",
        (
            "created",
            "date",
            "createddate",
            "createdon",
            "datecreated",
            "creationdate",
            "submitted",
            "submittedat",
            "submissiondate",
            "leaddate",
        ),
    ),
    ImportField("qualified_at", "qualifiedAt", ("qualifieddate", "qualifiedon", "datequalified")),
    ImportField("note", "note", ("notes", "comment", "comments", "message")),
    ImportField("custom", "custom"),
    ImportField("loss_reason", "lossReason", ("lostreason", "reasonlost")),
    ImportField("conversion_name", "conversionName", ("conversion",)),
    ImportField("visit_id", "sessionId"),
    ImportField("google_ads_campaign_id", "googleAdsCampaignId"),
    ImportField("google_ads_campaign_name", "googleAdsCampaignName"),
    ImportField("google_ads_ad_group_id", "googleAdsAdGroupId"),
    ImportField("google_ads_ad_group_name", "googleAdsAdGroupName"),
    ImportField("google_ads_ad_id", "googleAdsAdId"),
    ImportField("website", "website", ("site", "domain")),
    ImportField("path", "path", ("page", "pagepath", "landingpath")),
    *(ImportField(name, name) for name in CLICK_ID_FIELDS),
    # Meta's click id as its URLs carry it; stored as the fbc it stands for.
    ImportField("fbclid", "fbclid"),
    # A spreadsheet's "source", "medium" and "campaign" columns are the first three UTM tags.
    *(ImportField(name, name, _UTM_ALIASES.get(name, ())) for name in UTM_FIELDS),
    *(ImportField(name, name) for name in CONSENT_FIELDS),
)
FIELDS_BY_NAME: dict[str, ImportField] = {f.name: f for f in FIELDS}

_DATE_FIELDS = frozenset({"created_at", "qualified_at"})
# Cells handed to the lead model as they are (numbers, booleans), not as text.
_RAW_FIELDS = frozenset({"value", *CONSENT_FIELDS})
# Fields that are the import's own, not the lead model's.
_IMPORT_ONLY = frozenset(
    {"external_id", "first_name", "last_name", "status", "created_at", "qualified_at"}
    | {"loss_reason", "fbclid"}
)


def fold(text: str) -> str:
    """A header or field name as compared: lower case, without spaces, underscores, dashes."""
    return re.sub(r"[\s_\-]+", "", text.replace("\ufeff", "").strip().lower())


def _lookup() -> dict[str, str]:
    found: dict[str, str] = {}
    for import_field in FIELDS:
        for spelling in (import_field.name, import_field.label, *import_field.aliases):
            key = fold(spelling)
            if found.setdefault(key, import_field.name) != import_field.name:
                raise AssertionError(f"'{spelling}' names two import fields")  # pragma: no cover
    return found


_BY_FOLDED: dict[str, str] = _lookup()


def field_of(text: str) -> str | None:
    """The field a header (or a name given in a mapping) means, if any."""
    return _BY_FOLDED.get(fold(text))


def label_of(name: str) -> str:
    return FIELDS_BY_NAME[name].label


@dataclass(frozen=True)
class ColumnUse:
    """What became of one column: the field it fills (its label), ``custom`` for a column no
    field takes, which is kept in the lead's custom data, or None for a column left out."""

    column: str
    field: str | None
    kept_in_custom: bool = False


@dataclass(frozen=True)
class RowError:
    row: int
    column: str | None
    field: str | None  # the field's label, as people see it
    value: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "field": self.field,
            "value": self.value,
            "message": self.message,
        }

    def describe(self) -> str:
        where = f"row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: {self.message}"


# ------------------------------------------------------------------------------------ columns


@dataclass(frozen=True)
class _Column:
    index: int
    header: str  # as the file has it, or "column N" for a column without one
    field: str | None  # None: left out; _EXTRA: kept in custom


_EXTRA = "custom_extra"


@dataclass(frozen=True)
class ColumnPlan:
    columns: tuple[_Column, ...]
    by_field: dict[str, _Column]
    extras: tuple[_Column, ...]
    width: int
    status_mapping: dict[str, LeadStatus]
    now: datetime

    def column_of(self, name: str | None) -> str | None:
        column = self.by_field.get(name) if name else None
        return column.header if column else None


def _status_key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _parse_status_mapping(raw: Mapping[str, str]) -> dict[str, LeadStatus]:
    mapping: dict[str, LeadStatus] = {}
    for value, status in raw.items():
        if not str(value).strip():
            raise ValidationFailed(
                "a status mapping needs a value to map, as in 'Converted Leads=won'",
                details={"field": "status_mapping"},
            )
        try:
            mapping[_status_key(str(value))] = LeadStatus(parse_status(str(status)))
        except ValueError:
            raise ValidationFailed(
                f"the status mapping maps '{value}' to '{status}', which is not a status; "
                f"use one of {_STATUSES}",
                details={"field": "status_mapping", "value": str(value)},
            ) from None
    return mapping


_STATUSES = ", ".join(status.value for status in LeadStatus)
_FIELD_LIST = ", ".join(dict.fromkeys(f.label for f in FIELDS))


def _mapped_field(header: str, target: str | None) -> str | None:
    if target is None or target.strip() in ("", IGNORE):
        return None
    name = field_of(target)
    if name is None:
        raise ValidationFailed(
            f"the mapping gives column '{header}' to '{target}', which is not a field; "
            f"the fields are {_FIELD_LIST} (or '-' to leave the column out)",
            details={"field": "mapping", "column": header, "value": target},
        )
    return name


def plan_columns(
    header: Sequence[str],
    mapping: Mapping[str, str | None],
    status_mapping: Mapping[str, str],
    now: datetime,
) -> ColumnPlan:
    """What each column of ``header`` fills: ``mapping`` (column header -> a field's name, or
    ``-``, empty or None to leave the column out) first, then the headers' own names.
    ``status_mapping`` maps values of the status column to statuses. ``now`` bounds dates."""
    headers = [text or f"column {index + 1}" for index, text in enumerate(header)]
    explicit: dict[int, str | None] = {}
    for given, target in mapping.items():
        wanted = str(given).strip()
        matches = [i for i, text in enumerate(header) if text == wanted]
        if not matches:
            matches = [i for i, text in enumerate(header) if fold(text) == fold(wanted)]
        if not matches or not wanted:
            raise ValidationFailed(
                f"the mapping names column '{given}', which the file does not have; its "
                "columns are " + ", ".join(f"'{text}'" for text in header if text),
                details={"field": "mapping", "column": str(given)},
            )
        if len(matches) > 1:
            raise ValidationFailed(
                f"the mapping names column '{given}', which the file has {len(matches)} times",
                details={"field": "mapping", "column": str(given)},
            )
        explicit[matches[0]] = _mapped_field(str(given), target)

    columns: list[_Column] = []
    by_field: dict[str, _Column] = {}
    extra_names: set[str] = set()
    for index, text in enumerate(header):
        if index in explicit:
            name = explicit[index]
        else:
            name = field_of(text) if text else None
            if name is None:
                name = _EXTRA
        if name is not None and name in by_field:
            first = by_field[name].header
            raise ValidationFailed(
                f"columns '{first}' and '{headers[index]}' both fill {label_of(name)}; "
                "map one of them to another field, or to '-' to leave it out",
                details={"field": "mapping", "columns": [first, headers[index]]},
            )
        column_header = headers[index]
        if name == _EXTRA:
            # Two columns of one name are kept apart in custom.
            if column_header in extra_names:
                column_header = f"{column_header} (column {index + 1})"
            extra_names.add(column_header)
        column = _Column(index, column_header, name)
        columns.append(column)
        if name is not None and name != _EXTRA:
            by_field[name] = column
    if not by_field:
        raise ValidationFailed(
            "none of the file's columns is a lead field (its columns are "
            + ", ".join(f"'{text}'" for text in header if text)
            + "); name them as the fields are named, or map them",
            details={"field": "mapping"},
        )
    return ColumnPlan(
        columns=tuple(columns),
        by_field=by_field,
        extras=tuple(column for column in columns if column.field == _EXTRA),
        width=len(header),
        status_mapping=_parse_status_mapping(status_mapping),
        now=now,
    )


def column_uses(plan: ColumnPlan) -> list[ColumnUse]:
    return [_use(column) for column in plan.columns]


def _use(column: _Column) -> ColumnUse:
    if column.field == _EXTRA:
        return ColumnUse(column.header, "custom", kept_in_custom=True)
    return ColumnUse(column.header, label_of(column.field) if column.field else None)


# --------------------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class ParsedRow:
    number: int
    data: LeadCreate
    history: leads.LeadHistory


class RowProblem(Exception):
    def __init__(self, field: str | None, message: str, *, column: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.column = column


def _text(cell: Cell) -> str | None:
    """A cell as text, as a person reads it: 31612345678, not 31612345678.0."""
    if cell is None:
        return None
    if isinstance(cell, str):
        text = cell.strip()
    elif isinstance(cell, bool):
        text = "true" if cell else "false"
    elif isinstance(cell, float) and math.isfinite(cell) and cell.is_integer():
        text = str(int(cell))
    elif isinstance(cell, datetime | date | time):
        text = cell.isoformat()
    else:
        text = str(cell)
    return text or None


def _quoted(cell: Cell) -> str | None:
    text = _text(cell)
    if text is None:
        return None
    return text if len(text) <= QUOTED_VALUE else text[: QUOTED_VALUE - 3] + "..."


_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_DATE_FORMATS = "YYYY-MM-DD, MM/DD/YYYY or ISO-8601 (2026-03-10T14:30:00Z)"


def parse_moment(cell: Cell, now: datetime) -> datetime | None:
    """A date cell as a UTC time: ISO-8601 (with or without a time and an offset; without an
    offset it is UTC), YYYY-MM-DD, MM/DD/YYYY, or a workbook's date cell. Raises ValueError."""
    if tables.is_blank(cell):
        return None
    if isinstance(cell, datetime):
        moment = cell if cell.tzinfo else cell.replace(tzinfo=UTC)
    elif isinstance(cell, date):
        moment = datetime.combine(cell, time.min, tzinfo=UTC)
    elif isinstance(cell, str):
        moment = _moment_from_text(cell.strip())
    elif isinstance(cell, bool | int | float):
        raise ValueError(
            f"{_text(cell)} is a number, not a date; format the column as dates, or write "
            f"them as {_DATE_FORMATS}"
        )
    else:
        raise ValueError(f"'{_text(cell)}' is not a date; write dates as {_DATE_FORMATS}")
    moment = moment.astimezone(UTC)
    if moment.year < MIN_YEAR:
        raise ValueError(f"'{_text(cell)}' is before {MIN_YEAR}")
    if moment > now + FUTURE_SLACK:
        raise ValueError(f"'{_text(cell)}' is in the future")
    return moment


def _moment_from_text(text: str) -> datetime:
    try:
        if us := _US_DATE.match(text):
            month, day, year = (int(part) for part in us.groups())
            return datetime(year, month, day, tzinfo=UTC)
        if _ISO_DAY.match(text):
            return datetime.combine(date.fromisoformat(text), time.min, tzinfo=UTC)
        if _ISO_MOMENT.match(text):
            raw = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
            moment = datetime.fromisoformat(raw)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        if _US_DATE.match(text):
            raise ValueError(
                f"'{text}' is not a date; dates with slashes are read as MM/DD/YYYY"
            ) from None
    raise ValueError(f"'{text}' is not a date; write dates as {_DATE_FORMATS}")


def _status(cell: Cell, plan: ColumnPlan) -> LeadStatus:
    text = _text(cell)
    if text is None:
        return LeadStatus.OPEN
    mapped = plan.status_mapping.get(_status_key(text))
    if mapped is not None:
        return mapped
    try:
        return LeadStatus(parse_status(text))
    except ValueError:
        raise RowProblem(
            "status",
            f"'{text}' is not a status; use {_STATUSES}, or map the value to one of them "
            "with a status mapping",
        ) from None


def _custom(given: str | None, extras: dict[str, str]) -> str | None:
    """The custom column's text, with the columns no field took kept beside it."""
    if not extras:
        return given
    merged: dict[str, Any] = dict(extras)
    if given is not None:
        try:
            parsed = json.loads(given)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            merged.update(parsed)  # the custom column's own keys win
        else:
            merged["custom"] = given
    return json.dumps(merged, ensure_ascii=False, separators=(",", ":"))


def _pydantic_problem(exc: ValidationError) -> RowProblem:
    error = exc.errors()[0]
    location = [str(part) for part in error.get("loc", ())]
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    return RowProblem(location[0] if location else None, message)


def _digest(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def import_key(
    plan: ColumnPlan,
    external_id: str | None,
    data: LeadCreate,
    email: str | None,
    phone_e164: str | None,
    created_at: datetime | None,
) -> str:
    """What makes a row the same row again. With an id, the id (with its column's name, so
    ids of two systems exported under different names stay apart); without, who the lead is
    and when it came: email, phone, name and created date, or its data when it has none of
    those. Status, value and notes change between two exports of one lead: they are not in."""
    if external_id is not None:
        column = plan.by_field["external_id"].header
        return _digest({"idColumn": fold(column), "id": external_id})
    phone = phone_e164 or (re.sub(r"\D", "", data.phone) if data.phone else None)
    name = " ".join(data.name.split()).casefold() if data.name else None
    content: dict[str, Any] = {
        "email": email.lower() if email else None,
        "phone": phone or None,
        "name": name,
        "createdAt": iso_micros(created_at) if created_at else None,
    }
    if not (content["email"] or content["phone"] or content["name"]):
        content["custom"] = data.custom
        content["note"] = data.note
    return _digest(content)


def _cells_by_field(plan: ColumnPlan, row: TableRow) -> dict[str, Cell]:
    """The row's cells under the fields their columns fill (not the columns left out, nor
    those kept in custom data)."""
    raw: dict[str, Cell] = {}
    for column in plan.columns:
        cell = row.cells[column.index] if column.index < len(row.cells) else None
        if column.field is None:
            continue  # left out
        if isinstance(cell, str) and "\x00" in cell:
            raise RowProblem(column.field, "contains a NUL character", column=column.header)
        if column.field is not None and column.field != _EXTRA:
            raw[column.field] = cell
    return raw


def _extra_cells(plan: ColumnPlan, row: TableRow) -> dict[str, str]:
    """The row's text in the columns no field takes, by header, for its custom data."""
    extras = {
        column.header: text
        for column in plan.extras
        if (text := _text(row.cells[column.index] if column.index < len(row.cells) else None))
    }
    for index in range(plan.width, len(row.cells)):  # cells beyond the header's last column
        if (text := _text(row.cells[index])) is not None:
            extras[f"column {index + 1}"] = text
    return extras


def _moments(plan: ColumnPlan, raw: dict[str, Cell]) -> dict[str, datetime | None]:
    """The row's created and qualified dates, the second not before the first."""
    moments: dict[str, datetime | None] = {}
    for name in _DATE_FIELDS:
        try:
            moments[name] = parse_moment(raw.get(name), plan.now)
        except ValueError as exc:
            raise RowProblem(name, str(exc)) from None
    created_at, qualified_at = moments["created_at"], moments["qualified_at"]
    if created_at and qualified_at and qualified_at < created_at:
        raise RowProblem("qualified_at", "is before the created date")
    return moments


def _lead_data(
    plan: ColumnPlan, raw: dict[str, Cell], extras: dict[str, str], created_at: datetime | None
) -> LeadCreate:
    """The lead the row's fields describe, validated as the API validates one."""

    def text_of(name: str) -> str | None:
        return _text(raw.get(name))

    values: dict[str, Any] = {}
    for name in plan.by_field:
        if name in _IMPORT_ONLY or name == "custom":
            continue
        if name in _RAW_FIELDS:
            values[name] = None if tables.is_blank(raw[name]) else raw[name]
        else:
            values[name] = text_of(name)
    full_name = text_of("name")
    if full_name is None:
        parts = (text_of("first_name"), text_of("last_name"))
        full_name = " ".join(part for part in parts if part) or None
    values["name"] = full_name
    fbclid = text_of("fbclid")
    if fbclid and not values.get("fbc"):
        clicked = created_at or plan.now
        values["fbc"] = f"fb.1.{int(clicked.timestamp() * 1000)}.{fbclid}"
    values["custom"] = _custom(text_of("custom"), extras)
    try:
        data = LeadCreate.model_validate(values)
    except ValidationError as exc:
        problem = _pydantic_problem(exc)
        if problem.field == "custom" and extras:
            problem.message += " (custom holds the columns no field takes)"
        raise problem from None
    if not any((data.name, data.email, data.phone, data.custom)):
        raise RowProblem(None, "the row has no name, email, phone or other data to make a lead of")
    return data


def parse_row(plan: ColumnPlan, row: TableRow) -> ParsedRow:
    """One row as a lead to create; raises RowProblem naming the field at fault."""
    raw = _cells_by_field(plan, row)
    extras = _extra_cells(plan, row)
    moments = _moments(plan, raw)
    created_at, qualified_at = moments["created_at"], moments["qualified_at"]
    status = _status(raw.get("status"), plan)
    data = _lead_data(plan, raw, extras, created_at)
    try:
        email = leads.normalise_email(data.email) if data.email else None
    except ValidationFailed as exc:
        raise RowProblem("email", exc.message) from None
    try:
        phone_e164 = leads.normalise_phone(data.phone) if data.phone else None
    except ValidationFailed as exc:
        raise RowProblem("phone", exc.message) from None

    loss_reason = _text(raw.get("loss_reason"))
    if loss_reason is not None and len(loss_reason) > MAX_LONG_TEXT:
        raise RowProblem("loss_reason", f"is longer than {MAX_LONG_TEXT} characters")
    external_id = _text(raw.get("external_id"))
    history = leads.LeadHistory(
        status=status,
        created_at=created_at,
        qualified_at=qualified_at,
        loss_reason=loss_reason,
        import_key=import_key(plan, external_id, data, email, phone_e164, created_at),
    )
    return ParsedRow(number=row.number, data=data, history=history)


def row_error(plan: ColumnPlan, row: TableRow, problem: RowProblem) -> RowError:
    column = problem.column or plan.column_of(problem.field)
    value = None
    if column is not None:
        found = next((c for c in plan.columns if c.header == column), None)
        if found is not None and found.index < len(row.cells):
            value = _quoted(row.cells[found.index])
    known = problem.field in FIELDS_BY_NAME
    return RowError(
        row=row.number,
        column=column,
        field=label_of(problem.field) if problem.field and known else None,
        value=value,
        message=problem.message,
    )
