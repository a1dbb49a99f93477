"""The tracking writer's store when ClickHouse keeps the events (ADR 0014).

``ClickHouseStore`` wraps the SQL database's store: visits, their counters and attribution,
the rollups, the visitors and everything else stay there, in the writer's transaction, as
ever. Only the events go elsewhere: the group's new events (and each new visit's start, with
the dimensions it counts under) are inserted into ClickHouse, synchronously, just before the
SQL transaction commits; the requests are answered after both. So an event answered 2xx is
in ClickHouse (acknowledged) and its visit's counters are in the SQL database (committed).

- A beacon sent again: which of a group's events ClickHouse holds already is read from it
  (by site, visit and event id, among the events stored in the day before: ``RESENT_WITHIN``)
  before the group counts them, as the SQL database's unique index tells the writer
  otherwise.
- A SQL commit that fails after ClickHouse took the rows (a conflict the writer applies
  again, a lost connection): what this transaction inserted is deleted from ClickHouse again
  before the error goes on, so the group applied again inserts it afresh. A process killed
  between the two leaves rows in ClickHouse whose requests were never answered (the browser
  sends them again; its events are then found stored, so its visit's counters miss them):
  a window of the time one commit takes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from leadline.clickhouse import hourly
from leadline.clickhouse.client import ClickHouse, millis
from leadline.clickhouse.schema import DIMENSIONS, EVENTS, VISITS
from leadline.tracking.prepare import page_path
from leadline.tracking.store import (
    ConsentRow,
    DailyCount,
    EventRow,
    TrackingStore,
    VisitorHistory,
    VisitorTouch,
    VisitState,
)

_CHUNK = 1000
# More than the writer remembers (VisitCache: 20,000 visits of any kind).
_BOTS_KEPT = 50_000
# How far back a beacon sent again is looked for (a range of the table's primary key, so the
# read stays small however many events a site has). The tracker sends a batch again when the
# page could not deliver it, within the page's life; one sent again later than this is
# stored again.
RESENT_WITHIN = timedelta(days=1)
log = logging.getLogger(__name__)
# The rows a transaction sent, to take back out: its visit starts, its events.
_VISITS_SENT = "id IN {ids:Array(String)}"
_EVENTS_SENT = (
    "site_id IN {sites:Array(String)} AND visit_id IN {visits:Array(String)}"
    " AND (visit_id, client_id) IN (SELECT tupleElement(pair, 1), tupleElement(pair, 2)"
    " FROM (SELECT arrayJoin(arrayZip({visits:Array(String)}, {ids:Array(String)})) AS pair))"
)


class ClickHouseStore(TrackingStore):
    """A SQL store (``inner``) whose events go to ClickHouse (``clickhouse``)."""

    def __init__(self, inner: TrackingStore, clickhouse: ClickHouse) -> None:
        super().__init__(inner.connection)
        self.inner = inner
        self.clickhouse = clickhouse
        self.defers = inner.defers
        self.writer_key = inner.writer_key
        self._events: list[EventRow] = []
        self._visits: list[VisitState] = []
        # What this transaction put into ClickHouse, to take out again if it fails.
        self._sent_events: list[EventRow] = []
        self._sent_visits: list[str] = []
        # The visits taken for bots among those this store read or inserted: every visit a
        # group's events belong to was (remembered visits were read or inserted through this
        # store: the writer forgets them with its connection), and a visit's bot_reason never
        # changes. Bots' events are marked so, as the rollups leave them out.
        self._bots: OrderedDict[str, None] = OrderedDict()
        # Inserts and lookups, for the curious (and the bench).
        self.inserts = 0
        self.lookups = 0

    # ---- the transaction

    def begin(self) -> None:
        self._events, self._visits = [], []
        self._sent_events, self._sent_visits = [], []
        self.inner.begin()

    def commit(self) -> None:
        try:
            self._send()
            self.inner.commit()
        except BaseException:
            self._take_back_logged()
            raise
        self._sent_events, self._sent_visits = [], []

    def rollback(self) -> None:
        self._events, self._visits = [], []
        try:
            self._take_back_logged()
        finally:
            self.inner.rollback()

    def close(self) -> None:
        self.inner.close()
        self.clickhouse.close()

    def conflicted(self, error: BaseException) -> bool:
        return self.inner.conflicted(error)

    def _send(self) -> None:
        if self._visits:
            self.clickhouse.insert(
                "visits",
                VISITS,
                [
                    (
                        v.id,
                        v.workspace_id,
                        v.site_id,
                        v.visitor_id or "",
                        v.started_at,
                        1 if v.bot_reason else 0,
                        *((v.dimensions or {}).get(name, "") for name in DIMENSIONS),
                    )
                    for v in self._visits
                ],
            )
            self._sent_visits = [v.id for v in self._visits]
            self.inserts += 1
        if self._events:
            self.clickhouse.insert(
                "events",
                EVENTS,
                [
                    (
                        e.workspace_id,
                        e.site_id,
                        e.visit_id,
                        e.client_id,
                        e.type,
                        e.occurred_at,
                        e.received_at,
                        e.url,
                        page_path(e.url) if e.type == "page_view" else "",
                        e.data,
                        1 if e.visit_id in self._bots else 0,
                    )
                    for e in self._events
                ],
            )
            self._sent_events = self._events
            self.inserts += 1
        self._events, self._visits = [], []

    def _take_back_logged(self) -> None:
        try:
            self._take_back()
        except Exception:
            log.exception("tracking writer: rows of a transaction that failed stay in ClickHouse")

    def _take_back(self) -> None:
        """Delete from ClickHouse what this transaction inserted there (it did not commit)."""
        visits, events = self._sent_visits, self._sent_events
        self._sent_visits, self._sent_events = [], []
        # The hourly aggregates counted them as they were inserted: they are taken off there
        # first (hourly.forget_*), and the hours' visitors made again after.
        for start in range(0, len(visits), _CHUNK):
            chosen = {"ids": visits[start : start + _CHUNK]}
            hours = hourly.forget_visits(self.clickhouse, _VISITS_SENT, chosen)
            self.clickhouse.query(f"DELETE FROM visits WHERE {_VISITS_SENT}", chosen)  # noqa: S608
            hourly.visitors_again(self.clickhouse, hours)
        for start in range(0, len(events), _CHUNK):
            chunk = events[start : start + _CHUNK]
            chosen = {
                "sites": sorted({e.site_id for e in chunk}),
                "visits": [e.visit_id for e in chunk],
                "ids": [e.client_id for e in chunk],
            }
            hourly.forget_events(self.clickhouse, _EVENTS_SENT, chosen)
            self.clickhouse.query(f"DELETE FROM events WHERE {_EVENTS_SENT}", chosen)  # noqa: S608

    # ---- events: to ClickHouse

    def insert_events(
        self, rows: Sequence[EventRow], *, all_new: bool = False
    ) -> set[tuple[str, str]] | None:
        stored = self._stored(rows)
        inserted: set[tuple[str, str]] = set()
        repeated = False
        for row in rows:
            key = (row.visit_id, row.client_id)
            if key in stored or key in inserted:
                repeated = True
                continue
            inserted.add(key)
            self._events.append(row)
        return inserted if repeated else None

    def _stored(self, rows: Sequence[EventRow]) -> set[tuple[str, str]]:
        """The (visit, event id) of ``rows`` ClickHouse holds already."""
        found: set[tuple[str, str]] = set()
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            self.lookups += 1
            found.update(
                (visit_id, client_id)
                for visit_id, client_id in self.clickhouse.query(
                    "SELECT visit_id, client_id FROM events"
                    " WHERE site_id IN {sites:Array(String)}"
                    " AND received_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')"
                    " AND visit_id IN {visits:Array(String)}"
                    " AND client_id IN {ids:Array(String)}",
                    {
                        "since": millis(min(row.received_at for row in chunk) - RESENT_WITHIN),
                        "sites": sorted({row.site_id for row in chunk}),
                        "visits": sorted({row.visit_id for row in chunk}),
                        "ids": sorted({row.client_id for row in chunk}),
                    },
                )
            )
        return found

    # ---- visits: to the SQL database, and their starts to ClickHouse

    def insert_consents(self, rows: Sequence[ConsentRow]) -> None:
        # The consent ledger is transactional data: it stays in the SQL database.
        self.inner.insert_consents(rows)

    def visit_consent(self, visit_id: str) -> dict[str, bool]:
        return self.inner.visit_consent(visit_id)

    def insert_visits(self, visits: Sequence[VisitState]) -> None:
        self.inner.insert_visits(visits)
        self._visits.extend(visits)
        self._note(visits)

    def load_visits(self, visit_ids: Sequence[str]) -> dict[str, VisitState]:
        found = self.inner.load_visits(visit_ids)
        self._note(found.values())
        return found

    def lock_visitors(self, visitors: Sequence[tuple[str, str]]) -> None:
        self.inner.lock_visitors(visitors)

    def latest_visit(self, site_id: str, visitor_id: str, since: datetime) -> VisitState | None:
        found = self.inner.latest_visit(site_id, visitor_id, since)
        if found is not None:
            self._note([found])
        return found

    def _note(self, visits: Iterable[VisitState]) -> None:
        for visit in visits:
            if visit.bot_reason:
                self._bots[visit.id] = None
                self._bots.move_to_end(visit.id)
        while len(self._bots) > _BOTS_KEPT:
            self._bots.popitem(last=False)

    def visitor_history(self, site_id: str, visitor_id: str) -> VisitorHistory:
        return self.inner.visitor_history(site_id, visitor_id)

    def update_visits(self, visits: Sequence[VisitState]) -> None:
        self.inner.update_visits(visits)

    # ---- the rest: the SQL database's

    def sql(self, statement: str) -> str:
        return self.inner.sql(statement)

    def value(self, value: Any) -> Any:
        return self.inner.value(value)

    def add_counts(self, counts: str) -> None:
        self.inner.add_counts(counts)

    def drop_counts(self) -> None:
        self.inner.drop_counts()

    def take_orphan_counts(self) -> list[str]:
        return self.inner.take_orphan_counts()

    def add_daily(self, counts: Sequence[DailyCount]) -> None:
        self.inner.add_daily(counts)

    def add_hourly(self, counts: Sequence[DailyCount], hour: datetime) -> None:
        self.inner.add_hourly(counts, hour)

    def upsert_visitors(self, records: Sequence[VisitorTouch]) -> None:
        self.inner.upsert_visitors(records)
