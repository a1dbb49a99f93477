"""Export (data subject access): everything the workspace holds about a person, from every
table that declared personal data, as one JSON document or a readable HTML page.

The document is written as it is read, a few rows at a time, so an export of a long history
never sits whole in memory. Notes operators wrote about the person are included: under the
GDPR what is written about someone is their personal data too (docs/privacy.md). With
ClickHouse keeping the tracking events (LEADLINE_CLICKHOUSE_URL), pass its client: the person's
rows there follow, as ``clickhouse.events`` and ``clickhouse.visits``.
"""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.clickhouse.client import ClickHouse
from leadline.errors import ValidationFailed
from leadline.kit.ids import new_id
from leadline.kit.jsonsafe import json_safe
from leadline.kit.time import iso_millis, utcnow
from leadline.privacy import clickhouse_repository
from leadline.privacy import service as privacy
from leadline.privacy.registry import Declared, Person, clickhouse_tables, subject_tables
from leadline.privacy.repository import PersonRepository
from leadline.tracking import consent

Format = Literal["json", "html"]
FORMATS: tuple[Format, ...] = ("json", "html")
MEDIA_TYPES: dict[Format, str] = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
}
NOTICE = (
    "Everything this workspace holds about the person named, from every table that holds "
    "personal data. Notes the workspace's operators wrote about the person are included: "
    "they are the person's data too."
)


@dataclass(frozen=True)
class Export:
    """An export ready to be written: who it is about, as found when it was asked for."""

    id: str
    workspace_id: str
    created_at: datetime
    emails: list[str]
    phones: list[str]
    person: Person
    format: Format

    @property
    def filename(self) -> str:
        return f"personal-data-{self.id}.{self.format}"


def check_format(value: str) -> Format:
    for known in FORMATS:
        if value == known:
            return known
    raise ValidationFailed(
        f"format must be one of: {', '.join(FORMATS)}", details={"field": "format"}
    )


async def start(
    session: AsyncSession,
    workspace_id: str,
    actor: Actor,
    *,
    emails: Sequence[str] = (),
    phones: Sequence[str] = (),
    format: str = "json",
) -> Export:
    """Find the person and record in the audit log that their data was exported (what was
    matched, masked; never the data)."""
    kind = check_format(format)
    emails, phones = privacy.clean_person(emails, phones)
    if not emails and not phones:
        raise ValidationFailed("name an email or a phone to export", details={"field": "email"})
    person = await privacy.find(session, workspace_id, emails=emails, phones=phones)
    export = Export(new_id("exp"), workspace_id, utcnow(), emails, phones, person, kind)
    await audit.record(
        session,
        workspace_id,
        actor,
        "person.exported",
        "export",
        export.id,
        {"matched": (None, privacy.masked(emails, phones)), "format": (None, kind)},
    )
    return export


async def write(
    session: AsyncSession, export: Export, clickhouse: ClickHouse | None = None
) -> AsyncIterator[str]:
    """The export's document, piece by piece (the person's rows in ``clickhouse`` too)."""
    tables = subject_tables()
    pieces = (
        _json(session, export, tables, clickhouse)
        if export.format == "json"
        else _html(session, export, tables, clickhouse)
    )
    async for piece in pieces:
        yield piece


async def _elsewhere(
    export: Export, clickhouse: ClickHouse | None
) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """(name, rows) of the person's rows in each of ClickHouse's declared tables."""
    if clickhouse is None:
        return
    for table, data in clickhouse_tables():
        found = await clickhouse_repository.rows(
            clickhouse, table, data, export.workspace_id, export.person
        )
        yield f"clickhouse.{table}", found


async def _rows(
    session: AsyncSession, export: Export, one: Declared
) -> AsyncIterator[dict[str, Any]]:
    """The person's rows of ``one``. For the consent ledger, the first entry of each of the
    person's visits too: it is read from the visit's row rather than stored, and is theirs
    as much as the changes are."""
    async for row in PersonRepository(session).rows(export.workspace_id, one, export.person):
        yield row
    if one.name == "consent_changes":
        for row in await consent.start_entries(
            session,
            export.workspace_id,
            visit_ids=export.person.of("visit"),
            visitor_ids=export.person.of("visitor"),
        ):
            yield row


def _dumps(value: Any) -> str:
    return json.dumps(json_safe(value), ensure_ascii=False, separators=(",", ":"))


def _header(export: Export) -> dict[str, Any]:
    return {
        "id": export.id,
        "generated_at": iso_millis(export.created_at),
        "workspace_id": export.workspace_id,
        "person": {"emails": export.emails, "phones": export.phones},
        "notice": NOTICE,
    }


async def _json(
    session: AsyncSession,
    export: Export,
    tables: Sequence[Declared],
    clickhouse: ClickHouse | None,
) -> AsyncIterator[str]:
    yield '{"export":' + _dumps(_header(export)) + ',"tables":{'
    for n, one in enumerate(tables):
        yield ("," if n else "") + _dumps(one.name) + ":["
        first = True
        async for row in _rows(session, export, one):
            yield ("" if first else ",") + _dumps(_readable(row))
            first = False
        yield "]"
    async for name, found in _elsewhere(export, clickhouse):
        yield "," + _dumps(name) + ":[" + ",".join(_dumps(_readable(row)) for row in found) + "]"
    yield "}}\n"


def _readable(row: dict[str, Any]) -> dict[str, Any]:
    """A row with its JSON texts (form fields, payloads) as the documents they are."""
    out = {}
    for name, value in row.items():
        if isinstance(value, str) and value[:1] in "{[":
            try:
                out[name] = json.loads(value)
                continue
            except ValueError:
                pass
        if isinstance(value, bytes):
            value = value.hex()
        out[name] = value
    return out


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#1a1a1a}"
    "table{border-collapse:collapse;margin-bottom:2rem;font-size:.85rem}"
    "th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}td{white-space:pre-wrap;word-break:break-word}"
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    shown = value if isinstance(value, str) else _dumps(value)
    return html.escape(shown)


async def _html(
    session: AsyncSession,
    export: Export,
    tables: Sequence[Declared],
    clickhouse: ClickHouse | None,
) -> AsyncIterator[str]:
    header = _header(export)
    who = ", ".join([*export.emails, *export.phones])
    yield (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Personal data: {html.escape(who)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Personal data held about {html.escape(who)}</h1>"
        f"<p>{html.escape(NOTICE)}</p>"
        f"<p>Export {html.escape(export.id)}, generated {html.escape(header['generated_at'])}."
        "</p>"
    )
    for one in tables:
        names = list(one.table.c.keys())
        yield f"<h2>{html.escape(one.name)}</h2>"
        count = 0
        async for row in _rows(session, export, one):
            if not count:
                yield "<table><tr>" + "".join(f"<th>{html.escape(n)}</th>" for n in names) + "</tr>"
            cells = "".join(f"<td>{_cell(json_safe(row[n]))}</td>" for n in names)
            yield f"<tr>{cells}</tr>"
            count += 1
        yield "</table>" if count else "<p>Nothing held.</p>"
    async for name, found in _elsewhere(export, clickhouse):
        yield f"<h2>{html.escape(name)}</h2>"
        if not found:
            yield "<p>Nothing held.</p>"
            continue
        names = list(found[0])
        yield "<table><tr>" + "".join(f"<th>{html.escape(n)}</th>" for n in names) + "</tr>"
        for row in found:
            yield "<tr>" + "".join(f"<td>{_cell(json_safe(row[n]))}</td>" for n in names) + "</tr>"
        yield "</table>"
    yield "</body></html>\n"
