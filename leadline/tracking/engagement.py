"""How engaged a visit was: its score, 0-100, and the score's label."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadline.tracking.store import VisitState

LABELS = ((20, "Cold"), (45, "Warm"), (70, "Hot"), (100, "Very Hot"))
# The label of each score, 0-100 (looked up for every event of every visit).
_LABEL_OF = tuple(
    next(name for ceiling, name in LABELS if score <= ceiling) for score in range(101)
)


def label_of(score: int) -> str:
    return _LABEL_OF[min(max(score, 0), 100)]


def engagement(duration_ms: int, max_scroll: int, clicks: int, returns: int) -> tuple[int, str]:
    """The score of a visit, 0-100: a point per 10 s (at most 35), per 3.33% of scroll depth
    (at most 30), per click (at most 20), and 5 per earlier visit (at most 15)."""
    score = (
        min(35, duration_ms // 10_000)
        + min(30, max(0, min(max_scroll, 100)) * 30 // 100)
        + min(20, clicks)
        + min(15, 5 * returns)
    )
    return score, _LABEL_OF[min(max(score, 0), 100)]


def score_visit(visit: VisitState, now: datetime) -> None:
    """Score the visit as of ``now``: its duration so far counts."""
    elapsed = int((now - visit.started_at).total_seconds() * 1000)
    visit.duration_ms = max(visit.duration_ms, elapsed)
    visit.engagement_score, visit.engagement_label = engagement(
        visit.duration_ms, visit.max_scroll, visit.clicks, visit.earlier_visits
    )
