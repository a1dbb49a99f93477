"""Ad spend rules: what a valid spend row is, all-or-nothing imports, the spend report."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.adspend.repository import AdSpendRepository
from leadline.adspend.schemas import (
    REQUIRED_FIELDS,
    ROW_FIELDS,
    GroupBy,
    ImportResult,
    SpendGroup,
    SpendKey,
    SpendPage,
    SpendQuery,
    SpendRow,
)
from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.auth.service import Principal
from leadline.errors import ValidationFailed
from leadline.kit.pagination import check_page
from leadline.kit.reporting import MIN_YEAR, day_range, ratio
from leadline.kit.time import utcnow
from leadline.models import CLICK_PLATFORMS, Workspace
from leadline.workspaces import service as workspaces

# The platforms a lead's click ID can name: spend is only worth loading for these.
PLATFORMS: tuple[str, ...] = tuple(dict.fromkeys(platform for _, platform in CLICK_PLATFORMS))

# Names the platforms' own exports and people use, folded to lowercase without separators.
PLATFORM_ALIASES: dict[str, str] = {
    **{platform: platform for platform in PLATFORMS},
    "google": "googleads",
    "adwords": "googleads",
    "googleadwords": "googleads",
    "facebook": "meta",
    "facebookads": "meta",
    "fb": "meta",
    "instagram": "meta",
    "metaads": "meta",
    "microsoft": "microsoftads",
    "microsoftadvertising": "microsoftads",
    "bing": "microsoftads",
    "bingads": "microsoftads",
    "tiktokads": "tiktok",
    "linkedinads": "linkedin",
    "twitter": "x",
    "twitterads": "x",
    "xads": "x",
    "redditads": "reddit",
    "snap": "snapchat",
    "snapchatads": "snapchat",
    "pinterestads": "pinterest",
}

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100
# The JSON import takes this many rows per request; larger loads go through the CSV importer.
MAX_JSON_ROWS = 10_000
BATCH_SIZE = 500
PROGRESS_EVERY = 10_000

MAX_SPEND = Decimal("1e14")
MAX_COUNT = 2_147_483_647
MONEY_PLACES = Decimal("0.0001")

_SLASH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_WHOLE = re.compile(r"^\+?\d+$")


class RowProblem(Exception):
    """One field of one row is wrong; the caller says where the row is."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# ------------------------------------------------------------------------------- one row


def normalise_platform(raw: str) -> str | None:
    folded = re.sub(r"[\s_\-.]", "", raw.strip().lower())
    return PLATFORM_ALIASES.get(folded)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("must be text, not a boolean")
    text = str(value).strip()
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return text or None


def parse_spend_date(text: str) -> date:
    """ISO-8601 (``2026-03-10``, ``2026-03-10T08:00:00Z``) or ``MM/DD/YYYY``.

    A date-time stands for the calendar day written in it: spend exports report days in the
    ad account's own time zone, so the day is not shifted to UTC.
    """
    try:
        if slash := _SLASH_DATE.match(text):
            month, day_, year = (int(part) for part in slash.groups())
            day = date(year, month, day_)
        elif _ISO_DATE.match(text):
            day = date.fromisoformat(text)
        elif _ISO_DATETIME.match(text):
            raw = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
            day = datetime.fromisoformat(raw).date()
        else:
            raise ValueError(text)
    except ValueError:
        raise ValueError(
            f"'{text}' is not a date; use YYYY-MM-DD, MM/DD/YYYY or an ISO-8601 date-time"
        ) from None
    if day.year < MIN_YEAR:
        raise ValueError(f"'{text}' is before {MIN_YEAR}")
    return day


def _amount(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    text = str(value).strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"must be a number, not '{text}'") from None
    if not amount.is_finite():
        raise ValueError(f"must be a finite number, not '{text}'")
    if amount < 0:
        raise ValueError(f"must not be negative ({text})")
    if amount >= MAX_SPEND:
        raise ValueError(f"is too large ({text})")
    return abs(amount.quantize(MONEY_PLACES, rounding=ROUND_HALF_UP))


def _count(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not a boolean")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"must be a whole number, not {value}")
        value = int(value)
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not text:
            return 0
        if not _WHOLE.match(text):
            raise ValueError(f"must be a whole number of 0 or more, not '{text}'")
        number = int(text)
    if number < 0:
        raise ValueError(f"must not be negative ({number})")
    if number > MAX_COUNT:
        raise ValueError(f"is too large ({number})")
    return number


def parse_row(raw: Mapping[str, Any], default_currency: str) -> SpendRow:
    """Validate one row given by domain field names; raises RowProblem naming the field."""
    field = ""
    try:
        field = "date"
        date_text = _text(raw.get("date"))
        if date_text is None:
            raise ValueError("is required")
        day = parse_spend_date(date_text)

        field = "platform"
        platform_text = _text(raw.get("platform"))
        if platform_text is None:
            raise ValueError("is required")
        platform = normalise_platform(platform_text)
        if platform is None:
            raise ValueError(
                f"'{platform_text}' is not a known platform; use one of {', '.join(PLATFORMS)}"
            )

        field = "campaign_id"
        campaign_id = _text(raw.get("campaign_id")) or ""
        if len(campaign_id) > 128:
            raise ValueError("is longer than 128 characters")

        field = "campaign_name"
        campaign_name = _text(raw.get("campaign_name"))
        if campaign_name is not None and len(campaign_name) > 512:
            raise ValueError("is longer than 512 characters")

        field = "spend"
        spend_raw = raw.get("spend")
        if spend_raw is None or (isinstance(spend_raw, str) and not spend_raw.strip()):
            raise ValueError("is required")
        spend = _amount(spend_raw)

        field = "currency"
        currency_text = _text(raw.get("currency"))
        if currency_text is None:
            currency = default_currency
        elif _CURRENCY.match(currency_text):
            currency = currency_text.upper()
        else:
            raise ValueError(
                f"must be a three-letter ISO 4217 code (EUR, USD), not '{currency_text}'"
            )

        field = "clicks"
        clicks = _count(raw.get("clicks"))
        field = "impressions"
        impressions = _count(raw.get("impressions"))
    except ValueError as exc:
        raise RowProblem(field, str(exc)) from None
    return SpendRow(
        day=day,
        platform=platform,
        campaign_id=campaign_id,
        campaign_name=campaign_name,
        spend=spend,
        currency=currency,
        clicks=clicks,
        impressions=impressions,
    )


# -------------------------------------------------------------------------------- import


class _Importer:
    """Writes validated rows in batches inside the caller's transaction, counting what it did.

    A key seen before, in the database or earlier in the same import, counts as replaced.
    """

    def __init__(self, session: AsyncSession, workspace_id: str) -> None:
        self.repo = AdSpendRepository(session)
        self.workspace_id = workspace_id
        self.pending: dict[SpendKey, SpendRow] = {}
        self.rows = 0
        self.inserted = 0
        self.replaced = 0
        self.now = utcnow()

    async def add(self, row: SpendRow) -> None:
        self.rows += 1
        if row.key in self.pending:
            self.replaced += 1
        self.pending[row.key] = row
        if len(self.pending) >= BATCH_SIZE:
            await self.flush()

    async def flush(self) -> None:
        if not self.pending:
            return
        existing = await self.repo.existing_keys(self.workspace_id, list(self.pending))
        for key in self.pending:
            if key in existing:
                self.replaced += 1
            else:
                self.inserted += 1
        await self.repo.upsert(self.workspace_id, list(self.pending.values()), self.now)
        self.pending = {}

    def result(self) -> ImportResult:
        return ImportResult(rows=self.rows, inserted=self.inserted, replaced=self.replaced)

    async def finish(self, actor: Actor) -> ImportResult:
        """Write what is pending and log the import as one event."""
        await self.flush()
        result = self.result()
        await audit.record(
            self.repo.session,
            self.workspace_id,
            actor,
            "ad_spend.imported",
            "ad_spend",
            None,
            {
                "rows": (None, result.rows),
                "inserted": (None, result.inserted),
                "replaced": (None, result.replaced),
            },
        )
        return result


async def import_rows(
    session: AsyncSession,
    principal: Principal,
    rows: Iterable[Mapping[str, Any]],
    *,
    names: Mapping[str, str] | None = None,
    actor: Actor | None = None,
) -> ImportResult:
    """Import rows given as mappings of domain field names; ``names`` renames fields in errors.

    Every row is validated before anything is written, so one bad row rejects the import.
    """
    names = names or {}
    parsed: list[SpendRow] = []
    for index, raw in enumerate(rows):
        if index >= MAX_JSON_ROWS:
            raise ValidationFailed(
                f"send at most {MAX_JSON_ROWS} rows per request; import larger files with "
                "the `leadline ad-spend import` command",
                details={"field": "rows", "maxRows": MAX_JSON_ROWS},
            )
        try:
            parsed.append(parse_row(raw, principal.workspace.default_currency))
        except RowProblem as problem:
            name = names.get(problem.field, problem.field)
            raise ValidationFailed(
                f"rows.{index}.{name} {problem.message}; nothing was imported",
                details={"field": f"rows.{index}.{name}", "row": index},
            ) from None
    if not parsed:
        raise ValidationFailed("rows is empty: send at least one row", details={"field": "rows"})
    importer = _Importer(session, principal.workspace_id)
    for row in parsed:
        await importer.add(row)
    return await importer.finish(actor or principal.actor)


# CSV headers, folded to lowercase without separators, and the field each one fills.
_CSV_HEADERS: dict[str, str] = {name.replace("_", ""): name for name in ROW_FIELDS}


def _fold(header: str) -> str:
    return re.sub(r"[\s_\-]", "", header.strip().lower())


def _csv_problem(line: int, column: str | None, message: str) -> ValidationFailed:
    where = f"line {line}, column '{column}'" if column else f"line {line}"
    details: dict[str, Any] = {"line": line}
    if column:
        details["column"] = column
    return ValidationFailed(f"{where}: {message}; nothing was imported", details=details)


async def import_csv(
    session: AsyncSession,
    workspace: Workspace,
    stream: TextIO,
    *,
    progress: Callable[[int], None] | None = None,
    actor: Actor | None = None,
) -> ImportResult:
    """Stream a CSV file into the workspace's spend, in batches, inside one transaction.

    Rows are written as they are read, so memory stays flat; a bad row raises, and the caller's
    transaction rolls every earlier batch back.
    """
    reader = csv.reader(stream)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise _csv_problem(1, None, f"cannot read the header ({exc})") from None
    if not header or not any(cell.strip() for cell in header):
        raise _csv_problem(1, None, "the file is empty; expected a header line")
    columns: dict[str, int] = {}
    labels: dict[str, str] = {}
    for position, cell in enumerate(header):
        field = _CSV_HEADERS.get(_fold(cell.lstrip("\ufeff")))
        if field is None:
            continue  # other columns of a platform export are ignored
        if field in columns:
            raise _csv_problem(1, cell, f"duplicates column '{labels[field]}'")
        columns[field] = position
        labels[field] = cell.strip()
    missing = [name for name in REQUIRED_FIELDS if name not in columns]
    if missing:
        raise _csv_problem(1, None, f"missing column(s): {', '.join(missing)}")

    importer = _Importer(session, workspace.id)
    line = 1
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            raw = {
                field: (cells[position] if position < len(cells) else None)
                for field, position in columns.items()
            }
            try:
                row = parse_row(raw, workspace.default_currency)
            except RowProblem as problem:
                raise _csv_problem(
                    line, labels.get(problem.field, problem.field), problem.message
                ) from None
            await importer.add(row)
            if progress is not None and importer.rows % PROGRESS_EVERY == 0:
                progress(importer.rows)
    except csv.Error as exc:
        raise _csv_problem(reader.line_num or line, None, f"malformed CSV ({exc})") from None
    except UnicodeDecodeError:
        raise _csv_problem(line + 1, None, "the file is not UTF-8 text") from None
    if importer.rows == 0:
        raise _csv_problem(1, None, "the file has a header but no rows")
    result = await importer.finish(actor or Actor.cli())
    if progress is not None and importer.rows % PROGRESS_EVERY != 0:
        progress(importer.rows)
    return result


async def import_csv_for(
    session: AsyncSession,
    workspace_slug: str,
    stream: TextIO,
    *,
    progress: Callable[[int], None] | None = None,
    actor: Actor | None = None,
) -> ImportResult:
    workspace = await workspaces.require(session, workspace_slug)
    return await import_csv(session, workspace, stream, progress=progress, actor=actor)


# -------------------------------------------------------------------------------- report


def _parse_group_by(raw: str | None) -> GroupBy:
    try:
        return GroupBy((raw or GroupBy.DATE.value).strip().lower())
    except ValueError:
        allowed = ", ".join(g.value for g in GroupBy)
        raise ValidationFailed(
            f"groupBy must be one of {allowed}", details={"field": "groupBy", "value": raw}
        ) from None


async def spend_report(session: AsyncSession, principal: Principal, query: SpendQuery) -> SpendPage:
    start, end = day_range(
        query.start_date, query.end_date, start_name="startDate", end_name="endDate"
    )
    group_by = _parse_group_by(query.group_by)
    platform: str | None = None
    if query.platform is not None and query.platform.strip():
        platform = normalise_platform(query.platform)
        if platform is None:
            raise ValidationFailed(
                f"platform must be one of {', '.join(PLATFORMS)}",
                details={"field": "platform", "value": query.platform},
            )
    check_page(query.limit, query.page, max_limit=MAX_PAGE_SIZE)

    repo = AdSpendRepository(session)
    workspace_id = principal.workspace_id
    offset = (query.page - 1) * query.limit
    rows = await repo.report(workspace_id, start, end, platform, group_by, query.limit, offset)
    total = await repo.report_count(workspace_id, start, end, platform, group_by)
    groups = [
        SpendGroup(
            totals=row,
            cost_per_lead=ratio(row.spend, row.leads, MONEY_PLACES) if row.leads else None,
            roas=ratio(row.won_value, row.spend, MONEY_PLACES) if row.spend else None,
        )
        for row in rows
    ]
    return SpendPage(
        group_by=group_by, groups=groups, total=total, limit=query.limit, page=query.page
    )
