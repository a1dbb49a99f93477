"""The writer's group algorithm: the work of many requests applied in one transaction, with
the visits the writer remembers (``VisitCache``) changed without reading them."""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from leadline.errors import LeadlineError, NotFound
from leadline.kit.ids import new_id
from leadline.models import CONSENT_FIELDS
from leadline.sites.service import SiteInfo
from leadline.tracking.counts import Added, counts_json, move_rows, score_moves
from leadline.tracking.engagement import score_visit
from leadline.tracking.prepare import (
    EndWork,
    EventsWork,
    StartWork,
    VisitAnswer,
    Work,
    summarise,
)
from leadline.tracking.store import (
    ConsentRow,
    DailyCount,
    EventRow,
    TrackingStore,
    VisitorHistory,
    VisitorTouch,
    VisitState,
)

# A visit ends after this long without a request.
VISIT_IDLE = timedelta(minutes=30)


def _flags_of(columns: dict[str, Any]) -> dict[str, bool]:
    """The consent flags a visit starts with (those known)."""
    return {name: columns[name] for name in CONSENT_FIELDS if columns.get(name) is not None}


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class VisitCache:
    """The visits a writer has committed lately, as it committed them, so that the next group
    changes them without reading them first. Each is changed only where its revision is still
    the one remembered (``TrackingStore.update_visits``): when another process changed a
    visit meanwhile, the group is undone and applied again from what the database holds.
    At most ``size`` visits are kept, the least recently used going first."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._visits: OrderedDict[str, VisitState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._visits)

    def get(self, visit_id: str) -> VisitState | None:
        """The remembered visit itself, not a copy: the group changes it in place, so the
        writer forgets every visit of a group whose transaction fails."""
        visit = self._visits.get(visit_id)
        if visit is not None:
            self._visits.move_to_end(visit_id)
        return visit

    def keep(self, visits: Iterable[VisitState]) -> None:
        """Remember visits as committed (call it only after the commit); the cache owns
        them from then on."""
        for visit in visits:
            visit.columns, visit.dirty = None, False
            self._visits[visit.id] = visit
            self._visits.move_to_end(visit.id)
        while len(self._visits) > self.size:
            self._visits.popitem(last=False)

    def forget(self, visit_ids: Iterable[str]) -> None:
        for visit_id in visit_ids:
            self._visits.pop(visit_id, None)

    def clear(self) -> None:
        self._visits.clear()


@dataclass(slots=True)
class GroupResult:
    """What a group did: each work's answer, the visits it read or wrote as they will be once
    it commits, what it added to visits without writing their rows (``deferred``), and the
    visits whose counts added before were written to their rows after all (``settled``)."""

    answers: list[VisitAnswer | LeadlineError]
    visits: list[VisitState]
    deferred: dict[str, Added]
    settled: set[str]


def apply_group(
    store: TrackingStore,
    works: Sequence[Work],
    now: datetime,
    remembered: VisitCache | None = None,
    *,
    pending: dict[str, Added] | None = None,
    defer: bool = False,
) -> GroupResult:
    """Apply the work of many requests, in the order they came, inside the caller's
    transaction: one insert for all their events, one write per visit (and a read of those
    not ``remembered``), and the daily rollups and visitor records those visits and events
    change. Each work gets its answer, or the error that is its alone (an unknown session,
    say). Raises GroupConflict (here or at the commit) when a remembered visit was changed
    elsewhere or an event was stored before: the caller then rolls back and applies the group
    again without ``remembered``.

    ``pending``: what this writer added to visits without writing their rows (its rows of
    ``visit_counts``); a visit read from the database gets them added, and a remembered one
    has them already. With ``defer`` (a store that ``defers``), a visit that only got events
    is not written: what they added goes to one ``visit_counts`` row instead. Without it, the
    group writes every pending visit too and deletes this writer's rows of ``visit_counts``
    (a fold)."""
    pending = pending or {}
    # Before anything is read: another writer may be about to start a visit for the same
    # visitor (see TrackingStore.lock_visitors).
    looked_up = {
        (work.site.site_id, work.visitor_id)
        for work in works
        if isinstance(work, StartWork) and _finds_latest(work)
    }
    if looked_up:
        store.lock_visitors(sorted(looked_up))
    group = _Group(store, now, pending)
    visit_ids = {work.visit_id for work in works if work.visit_id}
    if not defer:
        visit_ids.update(pending)
    group.load(sorted(visit_ids), remembered)
    rows: list[EventRow] = []
    for work in works:
        if isinstance(work, EventsWork) and group.own(work.site, work.visit_id) is not None:
            rows.extend(work.rows)
    inserted = store.insert_events(rows, all_new=remembered is not None) if rows else None
    answers: list[VisitAnswer | LeadlineError] = []
    for work in works:
        try:
            if isinstance(work, StartWork):
                answers.append(group.start(work))
            elif isinstance(work, EventsWork):
                answers.append(group.events(work, inserted))
            else:
                answers.append(group.end(work))
        except LeadlineError as exc:
            answers.append(exc)
    deferred, settled = group.flush(defer)
    return GroupResult(answers, list(group.visits.values()), deferred, settled)


def _finds_latest(work: StartWork) -> bool:
    """Whether the start resumes the visitor's latest visit, if any, found by its visitor: a
    cookieless visitor's page without a visit of its own (a browser that keeps an id keeps
    its visit's id too, and starts a visit when it has none)."""
    return not work.visit_id and not work.identified


class _Group:
    def __init__(self, store: TrackingStore, now: datetime, pending: dict[str, Added]) -> None:
        self.store = store
        self.now = now
        self.pending = pending
        # What events added to each visit, and the visits written whatever the group defers
        # (a start or an end changed them).
        self.added: dict[str, Added] = {}
        self.settled: set[str] = set()
        self.day = now.astimezone(UTC).date()
        self.hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        self.millis = _millis(now)
        self.visits: dict[str, VisitState] = {}
        self.new: list[VisitState] = []
        # The newest visit started in this group, per (site, visitor).
        self.started: dict[tuple[str, str], VisitState] = {}
        # Earlier visits and the latest start, per (site, visitor).
        self.history: dict[tuple[str, str], VisitorHistory] = {}
        self.claimed: set[tuple[str, str]] = set()
        # What the group adds to each row of the rollups: (site, dimension, value) -> counts.
        self.daily: dict[tuple[str, str, str], DailyCount] = {}
        self.visitors: dict[tuple[str, str], VisitorTouch] = {}
        # Entries of the consent ledger: each change reported, or met as a visit resumed.
        self.consents: list[ConsentRow] = []

    def load(self, visit_ids: list[str], remembered: VisitCache | None) -> None:
        if remembered is not None:
            unknown = []
            for visit_id in visit_ids:
                visit = remembered.get(visit_id)
                if visit is None:
                    unknown.append(visit_id)
                else:
                    self.visits[visit_id] = visit
            visit_ids = unknown
        if visit_ids:
            for visit_id, visit in self.store.load_visits(visit_ids).items():
                self._read(visit)
                self.visits[visit_id] = visit

    def _read(self, visit: VisitState) -> None:
        """A visit just read from the database: add what this writer added but not wrote."""
        counts = self.pending.get(visit.id)
        if counts is not None:
            counts.apply(visit)

    def own(self, site: SiteInfo, visit_id: str | None) -> VisitState | None:
        visit = self.visits.get(visit_id) if visit_id else None
        return visit if visit is not None and visit.site_id == site.site_id else None

    def _require(self, site: SiteInfo, visit_id: str) -> VisitState:
        visit = self.own(site, visit_id)
        if visit is None:
            raise NotFound(f"session {visit_id} is not a session of this site")
        return visit

    # ---- the three kinds of work

    def start(self, work: StartWork) -> VisitAnswer:
        site_id = work.site.site_id
        current: VisitState | None = None
        if work.visit_id:
            current = self.own(work.site, work.visit_id)
        elif _finds_latest(work):
            current = self._latest(site_id, work.visitor_id)
        if (
            current is not None
            and current.last_seen_at >= self.now - VISIT_IDLE
            and not work.clicked
        ):
            # The tracker ends the visit on every page it leaves: the next page resumes it.
            current.last_seen_at = self.now
            current.ended_at = None
            current.dirty = True
            self.settled.add(current.id)
            self._resumed_consent(current, work)
            return VisitAnswer(current.id, current.visitor_id or work.visitor_id, self.millis, {})

        key = (site_id, work.visitor_id)
        history = self.history.get(key) or self.store.visitor_history(*key)
        earlier, last_start = history.visits, history.latest_start
        self.history[key] = VisitorHistory(visits=earlier + 1, latest_start=self.now)
        visit = VisitState(
            id=str(uuid.uuid4()),
            workspace_id=work.site.workspace_id,
            site_id=site_id,
            visitor_id=work.visitor_id,
            started_at=self.now,
            last_seen_at=self.now,
            ended_at=None,
            events=0,
            page_views=0,
            clicks=0,
            max_scroll=0,
            duration_ms=0,
            earlier_visits=earlier,
            bot_reason=work.columns.get("bot_reason"),
            columns=work.columns,
            dimensions=work.dimensions,
        )
        score_visit(visit, self.now)
        self.visits[visit.id] = visit
        self.started[key] = visit
        self.new.append(visit)
        # The consent it starts with is its row's (the ledger holds only changes from it).
        visit.consent = _flags_of(work.columns)
        if visit.bot_reason:
            self._count(visit, "bot", visit.bot_reason, visits=1)
        else:
            first_today = last_start is None or last_start.astimezone(UTC).date() < self.day
            visitors = int(first_today)
            self._count(visit, "total", "", visits=1, visitors=visitors)
            for dimension, value in work.dimensions.items():
                self._count(visit, dimension, value, visits=1, visitors=visitors)
            self._touch(visit, work)
        return VisitAnswer(visit.id, work.visitor_id, self.millis, {})

    def events(self, work: EventsWork, inserted: set[tuple[str, str]] | None) -> VisitAnswer:
        """``inserted``: the (visit, event id) of the events stored now, or None when every
        event of the group was."""
        visit = self._require(work.site, work.visit_id)
        summary = work.summary
        if inserted is not None:
            # Only events stored now count: a batch sent again changes nothing.
            fresh = []
            for index, row in enumerate(work.rows):
                key = (visit.id, row.client_id)
                if key in inserted and key not in self.claimed:
                    self.claimed.add(key)
                    fresh.append(index)
            summary = summarise(work.rows, work.depths, fresh)
        for report in work.consents:
            # A consent event sent again (the same id) is not a change again.
            if inserted is None or (visit.id, report.row.client_id) in inserted:
                self._consent(visit, report.source, report.flags)
        visit.events += summary.events
        visit.page_views += summary.page_views
        visit.clicks += summary.clicks
        if summary.max_scroll is not None:
            visit.max_scroll = max(visit.max_scroll, summary.max_scroll)
        if summary.events and not visit.bot_reason:
            self._count(visit, "total", "", page_views=summary.page_views, events=summary.events)
            for kind, count in summary.types.items():
                self._count(visit, "event", kind, events=count)
            for path, count in summary.pages.items():
                self._count(visit, "page", path, page_views=count)
        visit.last_seen_at = self.now
        visit.dirty = True  # scored once the group is done (flush)
        added = self.added.get(visit.id)
        if added is None:
            added = self.added[visit.id] = Added(0, 0, 0, 0, self.now)
        added.events += summary.events
        added.page_views += summary.page_views
        added.clicks += summary.clicks
        if summary.max_scroll is not None:
            added.max_scroll = max(added.max_scroll, summary.max_scroll)
        return VisitAnswer(
            visit.id, visit.visitor_id or "", self.millis, {"accepted": summary.events}
        )

    def end(self, work: EndWork) -> VisitAnswer:
        visit = self._require(work.site, work.visit_id)
        if work.max_scroll is not None:
            visit.max_scroll = max(visit.max_scroll, work.max_scroll)
        if work.clicks is not None:
            visit.clicks = max(visit.clicks, work.clicks)
        if work.duration_ms is not None:
            visit.duration_ms = max(visit.duration_ms, work.duration_ms)
        visit.ended_at = self.now
        visit.last_seen_at = self.now
        visit.dirty = True
        self.settled.add(visit.id)
        score_visit(visit, self.now)
        return VisitAnswer(
            visit.id,
            visit.visitor_id or "",
            self.millis,
            {
                "engagement_score": visit.engagement_score,
                "engagement_label": visit.engagement_label,
            },
        )

    # ---- helpers

    def _resumed_consent(self, visit: VisitState, work: StartWork) -> None:
        """A visit resumed by a page whose consent differs from the visit's now (a flag
        known both ways and changed, or newly known) adds a ledger entry of what changed.
        The visit's consent is read only for a visit not remembered, the first time."""
        stated = _flags_of(work.columns)
        if not stated:
            return
        if visit.consent is None:
            visit.consent = self.store.visit_consent(visit.id)
        changed = {name: flag for name, flag in stated.items() if visit.consent.get(name) != flag}
        if changed:
            self._consent(visit, work.columns.get("consent_source") or "none", changed)

    def _consent(self, visit: VisitState, source: str, flags: dict[str, bool]) -> None:
        # Read before this group's entries are written, so a resume later in the group
        # compares with the consent as this entry leaves it.
        if visit.consent is None:
            visit.consent = self.store.visit_consent(visit.id)
        visit.consent.update(flags)
        self.consents.append(
            ConsentRow(
                id=new_id("cns"),
                workspace_id=visit.workspace_id,
                site_id=visit.site_id,
                visit_id=visit.id,
                visitor_id=visit.visitor_id,
                source=source[:16],
                flags=json.dumps(flags, sort_keys=True, separators=(",", ":")),
                occurred_at=self.now,
            )
        )

    def _latest(self, site_id: str, visitor_id: str) -> VisitState | None:
        """The visitor's newest visit seen within the idle time, if any."""
        started = self.started.get((site_id, visitor_id))
        if started is not None:
            return started if started.last_seen_at >= self.now - VISIT_IDLE else None
        found = self.store.latest_visit(site_id, visitor_id, self.now - VISIT_IDLE)
        if found is None:
            return None
        # One state per visit, whichever way it was found.
        known = self.visits.get(found.id)
        if known is not None:
            return known
        self._read(found)
        self.visits[found.id] = found
        return found

    def _count(
        self,
        visit: VisitState,
        dimension: str,
        value: str,
        *,
        visits: int = 0,
        visitors: int = 0,
        page_views: int = 0,
        events: int = 0,
    ) -> None:
        key = (visit.site_id, dimension, value)
        counts = self.daily.get(key)
        if counts is None:
            counts = self.daily[key] = DailyCount(
                visit.site_id, visit.workspace_id, self.day, dimension, value
            )
        counts.visits += visits
        counts.visitors += visitors
        counts.page_views += page_views
        counts.events += events

    def _touch(self, visit: VisitState, work: StartWork) -> None:
        key = (visit.site_id, work.visitor_id)
        record = self.visitors.get(key)
        if record is None:
            record = self.visitors[key] = VisitorTouch(
                site_id=visit.site_id,
                visitor_id=work.visitor_id,
                workspace_id=visit.workspace_id,
                identified=work.identified,
                first_seen_at=self.now,
                last_seen_at=self.now,
                visits=0,
            )
        record.visits += 1
        record.last_seen_at = self.now
        if work.touch is not None:
            if record.first_touch is None:
                record.first_touch, record.first_touch_at = work.touch, self.now
            record.last_touch, record.last_touch_at = work.touch, self.now

    def flush(self, defer: bool) -> tuple[dict[str, Added], set[str]]:
        """Write what the group changed; returns what it deferred and the pending visits it
        wrote (see apply_group)."""
        deferred: dict[str, Added] = {}
        if defer:
            deferred = {
                visit_id: added
                for visit_id, added in self.added.items()
                # A visit started now is inserted with its counts.
                if visit_id not in self.settled and self.visits[visit_id].columns is None
            }
        else:
            # A fold: the pending visits are written with the rest (their state, read or
            # remembered, holds what is pending).
            for visit_id in self.pending:
                folded = self.visits.get(visit_id)
                if folded is not None:
                    folded.dirty = True
        # A visit is scored when its row is written, as of its latest event (the time of the
        # group that brought it): a deferred one when it is written later, to the same score.
        for visit in self.visits.values():
            if visit.dirty and visit.id not in deferred:
                score_visit(visit, visit.last_seen_at)
        if self.new:
            self.store.insert_visits(self.new)
        if self.consents:
            self.store.insert_consents(self.consents)
        changed = [
            visit
            for visit in self.visits.values()
            if visit.dirty and visit.columns is None and visit.id not in deferred
        ]
        settled = {visit.id for visit in changed if visit.id in self.pending}
        if defer and (deferred or set(self.pending) - settled):
            # A pending visit written now holds its pending counts: the row takes them back.
            entries = [*deferred.items()]
            entries.extend((done, self.pending[done].undone()) for done in settled)
            if entries:
                self.store.add_counts(counts_json(entries))
        elif self.pending:
            # Every pending visit is written now (a fold, or a group that wrote them all).
            self.store.drop_counts()
        if changed:
            changed.sort(key=lambda visit: visit.id)
            self.store.update_visits(changed)
            for visit in changed:
                visit.revision += 1
        # The visits written now move between the rollups' engagement scores and bounces.
        moves: dict[tuple[Any, ...], DailyCount] = {}
        score_moves(self.new, moves)
        score_moves(changed, moves)
        daily, hourly = move_rows(moves)
        if self.daily or daily:
            counts = [self.daily[key] for key in sorted(self.daily)]
            self.store.add_daily(counts + daily)
            self.store.add_hourly(counts + hourly, self.hour)
        if self.visitors:
            self.store.upsert_visitors([self.visitors[key] for key in sorted(self.visitors)])
        return deferred, settled
