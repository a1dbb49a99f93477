"""The consent ledger: every change of a visitor's consent, kept with its time, its source
and the visit it happened in (docs/privacy.md).

A visit's first entry is the consent it started with: it is not stored, it is read from the
visit's row (``start_entry``), which holds those flags anyway. What is stored is each change:
a ``consent_update`` event the tracker sends (the writer, in the transaction of the events), a
visit resumed by a page with another consent (the writer, likewise), and a lead created
through the API with consent flags (an ``api`` entry). An entry holds only the flags it
states, so nothing reads the visit to record a change: the state before and after an entry is
the fold of the entries before it in its thread (its visit's, or for an API entry without a
visit, its lead's). ``consent_at`` folds them up to a moment: a lead's consent when it was
captured, or when a conversion of it was uploaded.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.models import CONSENT_FIELDS, ConsentChange, Visit
from leadline.sites import service as sites
from leadline.tracking.consent_repository import ConsentRepository

Flags = dict[str, bool | None]


def _unknown() -> Flags:
    return dict.fromkeys(CONSENT_FIELDS)


def _stated(entry: ConsentChange) -> dict[str, bool]:
    found = json.loads(entry.flags or "{}")
    return {name: bool(found[name]) for name in CONSENT_FIELDS if name in found}


def _thread(entry: ConsentChange) -> str:
    return entry.visit_id or f"lead:{entry.lead_id}"


# A visit's first entry, read from its row, has an id made from the visit's: the same each
# time it is read, never one a stored entry has.
_START = "cns_v"


def start_id(visit_id: str) -> str:
    try:
        tail = uuid.UUID(visit_id).hex
    except ValueError:
        tail = hashlib.sha256(visit_id.encode()).hexdigest()[:32]
    return f"{_START}{tail}"


def _is_start(entry_id: str) -> bool:
    return entry_id.startswith(_START) and len(entry_id) == len(_START) + 32


def start_entry(visit: Visit) -> ConsentChange:
    """A visit's first entry: the consent its row started with, where that came from, at
    its start (not stored, and never added to a session)."""
    flags = {
        name: bool(getattr(visit, name))
        for name in CONSENT_FIELDS
        if getattr(visit, name) is not None
    }
    return ConsentChange(
        id=start_id(visit.id),
        workspace_id=visit.workspace_id,
        site_id=visit.site_id,
        visit_id=visit.id,
        visitor_id=visit.visitor_id,
        lead_id=None,
        source=visit.consent_source or "none",
        flags=json.dumps(flags, sort_keys=True, separators=(",", ":")),
        occurred_at=visit.started_at,
    )


def _order(entry: ConsentChange) -> tuple[datetime, int, str]:
    """Entries in time order; a visit's start first among those of its moment."""
    return _key(entry.occurred_at, entry.id)


def _key(at: datetime, entry_id: str) -> tuple[datetime, int, str]:
    return (at, 0 if _is_start(entry_id) else 1, entry_id)


def _in_order(entries: Iterable[ConsentChange]) -> list[ConsentChange]:
    return sorted(entries, key=_order)


@dataclass(frozen=True)
class LedgerEntry:
    """An entry with the state before it (None for the first of its thread) and after it."""

    entry: ConsentChange
    before: Flags | None
    after: Flags


@dataclass(frozen=True)
class LedgerPage:
    entries: list[LedgerEntry]
    has_more: bool


async def record_api_consent(
    session: AsyncSession,
    workspace_id: str,
    *,
    lead_id: str,
    visit_id: str | None,
    visitor_id: str | None,
    flags: Mapping[str, bool | None],
) -> ConsentChange | None:
    """Add an ``api`` entry for a lead given consent flags through the API (none when it
    was given none)."""
    stated = {name: flags[name] for name in CONSENT_FIELDS if flags.get(name) is not None}
    if not stated:
        return None
    entry = ConsentChange(
        id=new_id("cns"),
        workspace_id=workspace_id,
        visit_id=visit_id,
        visitor_id=visitor_id,
        lead_id=lead_id,
        source="api",
        flags=json.dumps(stated, sort_keys=True, separators=(",", ":")),
        occurred_at=utcnow(),
    )
    await ConsentRepository(session).add(entry)
    return entry


async def ledger(
    session: AsyncSession,
    workspace_id: str,
    *,
    visitor_id: str | None = None,
    visit_id: str | None = None,
    lead_id: str | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int,
) -> LedgerPage:
    """A page of the ledger of a visitor, or of a lead (its visit's entries and its own),
    oldest first, each with the state before and after it: the stored changes, and the
    start of each visit read from its row."""
    repo = ConsentRepository(session)
    found = await repo.page(
        workspace_id,
        visitor_id=visitor_id,
        visit_id=visit_id,
        lead_id=lead_id,
        after=after,
        after_start=after is not None and _is_start(after[1]),
        limit=limit + 1,
    )
    since = after[0] if after is not None else None
    if visitor_id is not None:
        site_ids = await sites.site_ids_of(session, workspace_id)
        visits = await repo.visits_of_visitor(site_ids, visitor_id, since, limit + 1)
    elif visit_id is not None:
        visits = await repo.visits(workspace_id, [visit_id])
    else:
        visits = []
    merged = [*found, *(start_entry(visit) for visit in visits)]
    if after is not None:
        cursor = _key(*after)
        merged = [entry for entry in merged if _order(entry) > cursor]
    merged = _in_order(merged)
    listed, has_more = merged[:limit], len(merged) > limit
    threads = await _threads(
        repo,
        workspace_id,
        sorted({e.visit_id for e in listed if e.visit_id}),
        sorted({e.lead_id for e in listed if e.lead_id and not e.visit_id}),
    )
    states = _fold(threads)
    return LedgerPage([_with_states(entry, states) for entry in listed], has_more)


async def _threads(
    repo: ConsentRepository, workspace_id: str, visit_ids: Sequence[str], lead_ids: Sequence[str]
) -> list[ConsentChange]:
    """Every entry of these visits (their starts among them) and of these leads, in order."""
    stored = await repo.threads(workspace_id, visit_ids, lead_ids)
    visits = await repo.visits(workspace_id, visit_ids) if visit_ids else []
    return _in_order([*stored, *(start_entry(visit) for visit in visits)])


async def start_entries(
    session: AsyncSession,
    workspace_id: str,
    *,
    visit_ids: Sequence[str],
    visitor_ids: Sequence[str],
) -> list[dict[str, Any]]:
    """The first entries of these visits and of these visitors' visits, as rows of
    ``consent_changes`` (every column): what a subject export lists with the stored ones."""
    repo = ConsentRepository(session)
    visits = {visit.id: visit for visit in await repo.visits(workspace_id, visit_ids)}
    if visitor_ids:
        site_ids = await sites.site_ids_of(session, workspace_id)
        for visitor_id in visitor_ids:
            for visit in await repo.visits_of_visitor(site_ids, visitor_id, None, None):
                visits[visit.id] = visit
    names = list(ConsentChange.__table__.columns.keys())
    return [
        {name: getattr(entry, name) for name in names}
        for entry in _in_order(start_entry(visit) for visit in visits.values())
    ]


def _fold(entries: Sequence[ConsentChange]) -> dict[str, tuple[Flags | None, Flags]]:
    """Per entry id, the state of its thread before and after it (``entries`` in order)."""
    current: dict[str, Flags] = {}
    out: dict[str, tuple[Flags | None, Flags]] = {}
    for entry in entries:
        thread = _thread(entry)
        before = current.get(thread)
        after = {**(before or _unknown()), **_stated(entry)}
        current[thread] = after
        out[entry.id] = (before, after)
    return out


def _with_states(
    entry: ConsentChange, states: Mapping[str, tuple[Flags | None, Flags]]
) -> LedgerEntry:
    before, after = states.get(entry.id, (None, {**_unknown(), **_stated(entry)}))
    return LedgerEntry(entry, before, after)


@dataclass(frozen=True)
class ConsentState:
    """A lead's consent at a moment, as the ledger has it: the flags, and the last entry that
    set them (None: the ledger holds nothing for the lead by then)."""

    flags: Flags
    entry_id: str | None

    def as_json(self) -> str:
        return json.dumps(
            {"entry_id": self.entry_id, "flags": self.flags},
            sort_keys=True,
            separators=(",", ":"),
        )


async def consent_at(
    session: AsyncSession,
    workspace_id: str,
    *,
    visit_id: str | None,
    lead_id: str | None,
    at: datetime,
) -> ConsentState:
    """The consent of a lead (its visit's start and entries, and its own) as of ``at``:
    entries in time order, each stating flags over the ones before."""
    repo = ConsentRepository(session)
    entries = await repo.until(workspace_id, visit_id=visit_id, lead_id=lead_id, at=at)
    if visit_id is not None:
        entries.extend(
            start_entry(visit)
            for visit in await repo.visits(workspace_id, [visit_id])
            if visit.started_at <= at
        )
    entries = _in_order(entries)
    flags = _unknown()
    for entry in entries:
        flags.update(_stated(entry))
    return ConsentState(flags, entries[-1].id if entries else None)
