"""The consent ledger: every change of a visitor's consent, kept with its time, its source
and the visit it happened in (docs/privacy.md).

A visit's first entry is the consent it started with (the tracking writer adds it with the
visit); a ``consent_update`` event the tracker sends adds a change (the writer, in the
transaction of the events); a lead created through the API with consent flags adds an
``api`` entry. An entry holds only the flags it states, so nothing reads the visit to record
a change: the state before and after an entry is the fold of the entries before it in its
thread (its visit's, or for an API entry without a visit, its lead's). ``consent_at`` folds
them up to a moment: a lead's consent when it was captured, or when a conversion of it was
uploaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.models import CONSENT_FIELDS, ConsentChange
from leadline.tracking.consent_repository import ConsentRepository

Flags = dict[str, bool | None]


def _unknown() -> Flags:
    return dict.fromkeys(CONSENT_FIELDS)


def _stated(entry: ConsentChange) -> dict[str, bool]:
    found = json.loads(entry.flags or "{}")
    return {name: bool(found[name]) for name in CONSENT_FIELDS if name in found}


def _thread(entry: ConsentChange) -> str:
    return entry.visit_id or f"lead:{entry.lead_id}"


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
    oldest first, each with the state before and after it."""
    repo = ConsentRepository(session)
    found = await repo.page(
        workspace_id,
        visitor_id=visitor_id,
        visit_id=visit_id,
        lead_id=lead_id,
        after=after,
        limit=limit + 1,
    )
    listed, has_more = found[:limit], len(found) > limit
    threads = await repo.threads(
        workspace_id,
        sorted({e.visit_id for e in listed if e.visit_id}),
        sorted({e.lead_id for e in listed if e.lead_id and not e.visit_id}),
    )
    states = _fold(threads)
    return LedgerPage([_with_states(entry, states) for entry in listed], has_more)


def _fold(entries: Sequence[ConsentChange]) -> dict[str, tuple[Flags | None, Flags]]:
    """Per entry id, the state of its thread before and after it."""
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
    """The consent of a lead (its visit's entries and its own) as of ``at``: entries in time
    order, each stating flags over the ones before."""
    entries = await ConsentRepository(session).until(
        workspace_id, visit_id=visit_id, lead_id=lead_id, at=at
    )
    flags = _unknown()
    for entry in entries:
        flags.update(_stated(entry))
    return ConsentState(flags, entries[-1].id if entries else None)
