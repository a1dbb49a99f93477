"""Counts a writer adds to visits without writing their rows (on PostgreSQL under load): what
events added (``Added``), kept in memory and in rows of ``visit_counts``, and their folding
into the visits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from leadline.tracking.engagement import score_visit
from leadline.tracking.store import DailyCount, TrackingStore, VisitState

# The rollup dimensions that count visits as their rows stand (not when something happened),
# each at the UTC hour and day the visit started: ``score`` (value: the lowest score of the
# visit's score class, see SCORE_CLASSES; visits), ``score_sum`` (value ""; ``visits`` holds
# the sum of the visits' scores) and ``bounce`` (value ""; visits of one page view).
SCORE = "score"
SCORE_SUM = "score_sum"
BOUNCE = "bounce"
# The lowest score of each class: the ten-point buckets (0-9 ... 90-100) cut by the labels'
# ceilings (20, 45, 70), so that a class lies in one bucket and one label. A visit moves to
# another class's row only when its score crosses one of these, not on every point.
SCORE_CLASSES = (0, 10, 20, 21, 30, 40, 46, 50, 60, 70, 71, 80, 90)
_CLASS_OF = tuple(max(low for low in SCORE_CLASSES if low <= score) for score in range(101))


def score_class(score: int) -> int:
    """The lowest score of the class ``score`` (0-100) is in."""
    return _CLASS_OF[min(max(score, 0), 100)]


@dataclass(slots=True)
class Added:
    """What events added to a visit: counts to add, the deepest scroll and the latest time
    to keep where larger. A visit's counts added but not yet written to its row are kept as
    these, in memory and in ``visit_counts``."""

    events: int
    page_views: int
    clicks: int
    max_scroll: int
    last_seen_at: datetime

    def merge(self, other: Added) -> None:
        self.events += other.events
        self.page_views += other.page_views
        self.clicks += other.clicks
        self.max_scroll = max(self.max_scroll, other.max_scroll)
        self.last_seen_at = max(self.last_seen_at, other.last_seen_at)

    def apply(self, visit: VisitState) -> None:
        """Add to the visit as its row holds it, and score it as of its last event."""
        visit.events += self.events
        visit.page_views += self.page_views
        visit.clicks += self.clicks
        visit.max_scroll = max(visit.max_scroll, self.max_scroll)
        visit.last_seen_at = max(visit.last_seen_at, self.last_seen_at)
        score_visit(visit, visit.last_seen_at)

    def undone(self) -> Added:
        """What takes these counts back out of a sum (for a visit whose row was written with
        them after all); the deepest scroll and the latest time are kept where larger, so
        adding them twice changes nothing."""
        return Added(
            -self.events, -self.page_views, -self.clicks, self.max_scroll, self.last_seen_at
        )


def score_moves(visits: Iterable[VisitState], into: dict[tuple[Any, ...], DailyCount]) -> None:
    """Move the people's visits whose rows are being written (inserted or changed) in the
    rollups' ``score``, ``score_sum`` and ``bounce`` rows of the hour each started: -1 in the
    class the row held, +1 in the one it will hold, the difference of the scores to the sum;
    then take the row's new state as the one stored. ``into``: the transaction's moves, by
    (site, hour, dimension, value), the hour as seconds since the epoch. (Called for every
    visit a group writes: kept to plain comparisons until something moved.)"""
    for visit in visits:
        score, bounced = visit.engagement_score, visit.page_views == 1
        before = visit.stored
        if before is not None and before[0] == score and before[1] == bounced:
            continue
        visit.stored = (score, bounced)
        if visit.bot_reason:
            continue
        started = visit.started_at.timestamp()
        hour = int(started - started % 3600)
        moves: list[tuple[str, str, int]] = []
        old_score = before[0] if before is not None else 0
        if score != old_score:
            moves.append((SCORE_SUM, "", score - old_score))
        new_class = _CLASS_OF[min(max(score, 0), 100)]
        if before is None:
            moves.append((SCORE, str(new_class), 1))
        else:
            old_class = _CLASS_OF[min(max(before[0], 0), 100)]
            if old_class != new_class:
                moves.append((SCORE, str(old_class), -1))
                moves.append((SCORE, str(new_class), 1))
        if (before is not None and before[1]) != bounced:
            moves.append((BOUNCE, "", 1 if bounced else -1))
        for dimension, value, change in moves:
            key = (visit.site_id, hour, dimension, value)
            counts = into.get(key)
            if counts is None:
                at = datetime.fromtimestamp(hour, UTC)
                counts = into[key] = DailyCount(
                    visit.site_id, visit.workspace_id, at.date(), dimension, value, hour=at
                )
            counts.visits += change


def move_rows(
    moves: dict[tuple[Any, ...], DailyCount],
) -> tuple[list[DailyCount], list[DailyCount]]:
    """The rows of ``tracking_daily`` and of ``tracking_hourly`` that ``moves`` add to (one
    per row: a statement may not change a row twice), the ones that cancelled out left out."""
    hourly = [moves[key] for key in sorted(moves) if moves[key].visits]
    days: dict[tuple[str, Any, str, str], DailyCount] = {}
    for move in hourly:
        key = (move.site_id, move.day, move.dimension, move.value)
        day = days.get(key)
        if day is None:
            day = days[key] = DailyCount(
                move.site_id, move.workspace_id, move.day, move.dimension, move.value
            )
        day.visits += move.visits
    return [days[key] for key in sorted(days) if days[key].visits], hourly


def counts_json(added: Iterable[tuple[str, Added]]) -> str:
    """The ``counts`` of a ``visit_counts`` row: an array per visit (id, events, page views,
    clicks, deepest scroll, latest time), the time as msgspec writes it (ISO 8601 in UTC)."""
    entries = [
        (
            visit_id,
            counts.events,
            counts.page_views,
            counts.clicks,
            counts.max_scroll,
            counts.last_seen_at,
        )
        for visit_id, counts in added
    ]
    return msgspec.json.encode(entries).decode()


def read_counts(texts: Iterable[str]) -> dict[str, Added]:
    """The sum, per visit, of the ``counts`` of ``visit_counts`` rows."""
    sums: dict[str, Added] = {}
    for text in texts:
        for visit_id, events, page_views, clicks, max_scroll, seen in msgspec.json.decode(text):
            seen_at = datetime.fromisoformat(seen)
            counts = Added(
                int(events),
                int(page_views),
                int(clicks),
                int(max_scroll),
                # Rows of earlier versions carry naive UTC text.
                seen_at.replace(tzinfo=UTC) if seen_at.tzinfo is None else seen_at.astimezone(UTC),
            )
            known = sums.get(visit_id)
            if known is None:
                sums[visit_id] = counts
            else:
                known.merge(counts)
    return sums


def fold_counts(store: TrackingStore, texts: Sequence[str]) -> list[VisitState]:
    """Add the ``visit_counts`` rows taken (``texts``) to their visits, inside the caller's
    transaction; returns the visits as they will be once it commits (visits deleted meanwhile
    are skipped)."""
    sums = read_counts(texts)
    visits = store.load_visits(sorted(sums))
    for visit_id, visit in visits.items():
        sums[visit_id].apply(visit)
    if visits:
        store.update_visits(sorted(visits.values(), key=lambda visit: visit.id))
        for visit in visits.values():
            visit.revision += 1
        moves: dict[tuple[Any, ...], DailyCount] = {}
        score_moves(visits.values(), moves)
        daily, hourly = move_rows(moves)
        if daily:
            store.add_daily(daily)
        if hourly:
            store.add_hourly(hourly, datetime.now(UTC))
    return list(visits.values())
