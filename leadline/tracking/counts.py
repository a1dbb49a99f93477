"""Counts a writer adds to visits without writing their rows (on PostgreSQL under load): what
events added (``Added``), kept in memory and in rows of ``visit_counts``, and their folding
into the visits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from leadline.tracking.engagement import score_visit
from leadline.tracking.store import TrackingStore, VisitState


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
    return list(visits.values())
