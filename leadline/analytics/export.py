"""Exports of raw rows: a workspace's events, visits or leads of a period (and of one site,
if named), as CSV with a header row or as newline-delimited JSON, streamed.

Rows are read a page at a time after a keyset, each page in a short read transaction of its
own, so an export of any size keeps a page in memory and no transaction open while the
rows travel. The rows come from the features that own them (tracking and leads, and form
submissions to tell a lead's site); this module only chooses and encodes.

- events: by the time they were received, site by site, in order of (received_at, id);
- visits: by the time they started, site by site, in order of (started_at, id);
- leads: by the time they were created, in order of (created_at, id). With a site named, the
  leads whose visit was on that site or that were submitted through one of its forms.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.clickhouse.client import ClickHouse
from leadline.db import Database
from leadline.errors import NotFound, ValidationFailed
from leadline.forms import exports as form_exports
from leadline.kit.periods import Period
from leadline.kit.time import iso_millis
from leadline.leads import exports as lead_exports
from leadline.sites import service as sites
from leadline.tracking import exports as tracking_exports

KINDS: tuple[str, ...] = ("events", "visits", "leads")
FORMATS: tuple[str, ...] = ("csv", "ndjson")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
FIELDS: dict[str, tuple[str, ...]] = {
    "events": tracking_exports.EVENT_FIELDS,
    "visits": tracking_exports.VISIT_FIELDS,
    "leads": lead_exports.LEAD_FIELDS,
}
# The column that orders each kind's rows and bounds its period.
_TIME_FIELD = {"events": "received_at", "visits": "started_at", "leads": "created_at"}
# Rows read per transaction.
BATCH = 2000


def parse_kind(value: str | None) -> str:
    if value not in KINDS:
        raise ValidationFailed(
            f"kind must be one of {', '.join(KINDS)}", details={"parameter": "kind"}
        )
    return value


def parse_format(value: str | None) -> str:
    if value not in FORMATS:
        raise ValidationFailed(
            f"format must be one of {', '.join(FORMATS)}", details={"parameter": "format"}
        )
    return value


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """What to export: ``kind`` of rows of the workspace's ``site_ids`` in ``period``;
    ``site_named`` says the caller named the site (leads are only filtered by site then:
    without it every lead of the workspace is exported, those of no site too)."""

    workspace_id: str
    kind: str
    site_ids: tuple[str, ...]
    period: Period
    site_named: bool = False

    @property
    def fields(self) -> tuple[str, ...]:
        return FIELDS[self.kind]


async def sites_to_export(
    session: AsyncSession, workspace_id: str, site: str | None
) -> tuple[str, ...]:
    """The site named by id or key (NotFound unless it is the workspace's), or every site the
    workspace has had."""
    if not site:
        return tuple(await sites.site_ids_of(session, workspace_id))
    found = await sites.site_by_key(session, site)
    if found is not None and found.workspace_id == workspace_id:
        return (found.site_id,)
    try:
        return ((await sites.managed_site(session, workspace_id, site)).site.id,)
    except NotFound:
        raise NotFound(f"no site {site}", resource="site") from None


async def count_rows(db: Database, spec: ExportSpec, clickhouse: ClickHouse | None = None) -> int:
    """How many rows the export will have (for leads of a named site, at most that many);
    events from ``clickhouse`` when it keeps them."""
    start, end = spec.period.start, spec.period.end
    async with db.transaction() as session:
        if spec.kind == "events":
            return await tracking_exports.count_events(
                session, spec.workspace_id, spec.site_ids, start, end, clickhouse
            )
        if spec.kind == "visits":
            return await tracking_exports.count_visits(
                session, spec.workspace_id, spec.site_ids, start, end
            )
        return await lead_exports.count_leads(session, spec.workspace_id, start, end)


Rows = Sequence[Any]


async def batches(
    db: Database, spec: ExportSpec, size: int = BATCH, clickhouse: ClickHouse | None = None
) -> AsyncIterator[Rows]:
    """The export's rows, a page at a time, each page read in a transaction of its own
    (events from ``clickhouse`` when it keeps them, a page per read there)."""
    if spec.kind == "leads":
        async for rows in _lead_batches(db, spec, size):
            yield rows
        return
    moment = _TIME_FIELD[spec.kind]
    for site_id in spec.site_ids:
        after: Any = None
        while True:
            async with db.transaction() as session:
                start, end = spec.period.start, spec.period.end
                if spec.kind == "events":
                    rows = await tracking_exports.events_page(
                        session, spec.workspace_id, site_id, start, end, after, size, clickhouse
                    )
                else:
                    rows = await tracking_exports.visits_page(
                        session, spec.workspace_id, site_id, start, end, after, size
                    )
            if rows:
                yield rows
            if len(rows) < size:
                break
            last = rows[-1]
            after = (
                tracking_exports.events_after(last)
                if spec.kind == "events"
                else (getattr(last, moment), last.id)
            )


async def _lead_batches(db: Database, spec: ExportSpec, size: int) -> AsyncIterator[Rows]:
    after: tuple[datetime, str] | None = None
    while True:
        async with db.transaction() as session:
            rows = await lead_exports.leads_page(
                session, spec.workspace_id, spec.period.start, spec.period.end, after, size
            )
            kept = await _of_sites(session, spec, rows) if spec.site_named else rows
        if kept:
            yield kept
        if len(rows) < size:
            return
        after = (rows[-1].created_at, rows[-1].id)


async def _of_sites(session: AsyncSession, spec: ExportSpec, rows: Rows) -> Rows:
    """The leads of ``rows`` whose visit was on one of the spec's sites, or that were
    submitted through one of their forms."""
    visit_ids = [row.visit_id for row in rows if row.visit_id]
    visit_sites = await tracking_exports.sites_of_visits(session, spec.workspace_id, visit_ids)
    chosen = set(spec.site_ids)
    submitted = await form_exports.leads_submitted_at(
        session, spec.workspace_id, [row.id for row in rows], spec.site_ids
    )
    return [
        row
        for row in rows
        if row.id in submitted or (row.visit_id and visit_sites.get(row.visit_id) in chosen)
    ]


# ------------------------------------------------------------------------------ encoding


def _moment(value: datetime) -> str:
    """``2026-03-10T12:00:00.000Z``, as iso_millis writes it; the stored times come back in
    UTC, which isoformat writes fastest (this runs twice per row of an export)."""
    if value.tzinfo is UTC:
        return value.isoformat(timespec="milliseconds")[:-6] + "Z"
    return iso_millis(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _moment(value)
    return str(value)


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return _moment(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


_encoder = msgspec.json.Encoder()


def encode_csv(fields: Sequence[str], rows: Rows, header: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(fields)
    writer.writerows([_text(value) for value in row] for row in rows)
    return out.getvalue().encode("utf-8")


def encode_ndjson(fields: Sequence[str], rows: Rows, raw_data: bool) -> bytes:
    """One JSON object per row, one row per line. An event's ``data`` (kept as JSON) is
    written as the object it holds."""
    out = bytearray()
    for row in rows:
        item = {name: _json(value) for name, value in zip(fields, row, strict=True)}
        if raw_data and item.get("data"):
            item["data"] = msgspec.Raw(item["data"].encode())
        out += _encoder.encode(item)
        out += b"\n"
    return bytes(out)


async def stream(
    db: Database,
    spec: ExportSpec,
    fmt: str,
    on_rows: Callable[[int], None] | None = None,
    size: int = BATCH,
    clickhouse: ClickHouse | None = None,
) -> AsyncIterator[bytes]:
    """The export as chunks of bytes, one per page of rows (the CSV header first, even with no
    rows); ``on_rows`` hears how many rows each chunk held. Events are read from
    ``clickhouse`` when it keeps them (docs/clickhouse.md)."""
    fields = spec.fields
    if fmt == "csv":
        yield encode_csv(fields, [], header=True)
    async for rows in batches(db, spec, size, clickhouse):
        if fmt == "csv":
            yield encode_csv(fields, rows, header=False)
        else:
            yield encode_ndjson(fields, rows, raw_data=spec.kind == "events")
        if on_rows is not None:
            on_rows(len(rows))


def filename(spec: ExportSpec, fmt: str) -> str:
    """``events-2026-03-01-2026-03-31.csv``."""
    return f"{spec.kind}-{spec.period.first.isoformat()}-{spec.period.last.isoformat()}.{fmt}"
