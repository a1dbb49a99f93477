"""Form submissions as other features see them: erasing a person's, and what the lead
reports read (the quarter-hour rollups, each lead's latest submission, a lead's own)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.forms.capture import SUSPICIOUS_FROM
from leadline.forms.repository import (
    BUCKET_MINUTES,
    COUNTED_OUTCOMES,
    Narrowing,
    RollupRepository,
    SubmissionRepository,
    Sums,
)
from leadline.models import LeadSubmission

__all__ = [
    "BUCKET_MINUTES",
    "REPORTED_OUTCOMES",
    "SUSPICIOUS_FROM",
    "Narrowing",
    "Sums",
    "counts_of_leads",
    "delete_rollups_of_workspace",
    "interval_sums",
    "latest_of_leads",
    "rollup_values",
    "submissions_of_lead",
]

# The outcomes the reports count as submissions: what the public sent. A blocked address's
# and the team's own (testing) are kept, never reported.
REPORTED_OUTCOMES: tuple[str, ...] = COUNTED_OUTCOMES

_HALF_DAY = timedelta(hours=12)
_DAY = timedelta(days=1)


def _reported(by: Narrowing) -> Narrowing:
    return replace(by, outcomes=REPORTED_OUTCOMES, suspicious_from=SUSPICIOUS_FROM)


def _nearest_midnight(moment: datetime) -> datetime:
    """The UTC midnight nearest ``moment`` (the earlier of two as near)."""
    midnight = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if moment - midnight <= _HALF_DAY else midnight + _DAY


Grouped = dict[tuple[Any, ...], Sums]


async def interval_sums(
    session: AsyncSession,
    workspace_id: str,
    bounds: Sequence[datetime],
    by: Narrowing,
    groups: Sequence[str] = (),
) -> list[Grouped]:
    """The reported submissions that meet ``by`` in each interval between consecutive
    ``bounds`` (UTC instants on quarter hours, increasing: a zone's midnights), summed per
    value of ``groups`` (project, source, engagement_label).

    An interval is read as the whole UTC days between the UTC midnights nearest its bounds,
    from the day rollups, corrected at each bound by the quarters between it and its
    midnight (at most twelve hours' worth), added or taken away: a month in any zone reads
    about thirty day rows per value and a few quarters per day, where it would read nearly
    three thousand quarters."""
    if len(bounds) < 2:
        return []
    repo = RollupRepository(session)
    by = _reported(by)
    midnights = [_nearest_midnight(bound) for bound in bounds]
    found: list[Grouped] = [{} for _ in bounds[1:]]

    def into(interval: int, key: tuple[Any, ...], sums: Sums, sign: int) -> None:
        if 0 <= interval < len(found):
            found[interval].setdefault(key, Sums()).add(sums, sign)

    days = await repo.day_sums(workspace_id, midnights[0].date(), midnights[-1].date(), by, groups)
    starts = [midnight.date() for midnight in midnights]
    for day, key, sums in days:
        into(bisect_right(starts, day) - 1, key, sums, 1)
    pieces = [
        (min(bound, midnight), max(bound, midnight))
        for bound, midnight in zip(bounds, midnights, strict=True)
        if bound != midnight
    ]
    quarters = await repo.quarter_sums(workspace_id, pieces, by, groups) if pieces else []
    for quarter, key, sums in quarters:
        for n, (bound, midnight) in enumerate(zip(bounds, midnights, strict=True)):
            low, high = min(bound, midnight), max(bound, midnight)
            if not low <= quarter < high:
                continue
            # Before its midnight, a bound's interval starts earlier than the days read
            # (add the piece) and the interval before it ends earlier (take it away).
            sign = 1 if bound < midnight else -1
            into(n, key, sums, sign)
            into(n - 1, key, sums, -sign)
    return found


async def rollup_values(
    session: AsyncSession,
    workspace_id: str,
    start: datetime,
    end: datetime,
    by: Narrowing,
    column: str,
) -> list[str]:
    """The projects or sources (``column``) of the reported submissions of the UTC days
    from ``start``'s to ``end``'s (a filter's options: a day more or less does not matter)."""
    last = end.astimezone(UTC) - timedelta(microseconds=1)
    return await RollupRepository(session).values(
        workspace_id, start.astimezone(UTC).date(), last.date() + _DAY, _reported(by), column
    )


async def latest_of_leads(
    session: AsyncSession,
    workspace_id: str,
    start: datetime,
    end: datetime,
    by: Narrowing,
    *,
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[LeadSubmission]:
    """Each lead's latest submission of the period among those that meet ``by``, newest
    first, continuing after ``before`` (a submission's time and id)."""
    return await SubmissionRepository(session).latest_of_leads(
        workspace_id, start, end, _reported(by), before=before, limit=limit
    )


async def counts_of_leads(
    session: AsyncSession,
    workspace_id: str,
    lead_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> dict[str, int]:
    """How many submissions each of ``lead_ids`` sent in the period."""
    return await SubmissionRepository(session).counts_of_leads(workspace_id, lead_ids, start, end)


async def submissions_of_lead(
    session: AsyncSession, workspace_id: str, lead_id: str, limit: int
) -> list[LeadSubmission]:
    """The workspace's lead's submissions, newest first, at most ``limit``."""
    return await SubmissionRepository(session).of_lead(workspace_id, lead_id, limit)


async def delete_rollups_of_workspace(session: AsyncSession, workspace_id: str, batch: int) -> int:
    """Delete up to ``batch`` of a closed workspace's submission rollups (a purge's step);
    0 once none is left. Its submissions go with its leads."""
    return await RollupRepository(session).delete_some_of_workspace(workspace_id, batch)


@dataclass(frozen=True, slots=True)
class SubmissionCounts:
    """A period's submissions from a set of sites: those that made a new lead (``leads``)
    and all that made or joined one (``submissions``); bots' and test submissions, kept
    aside, are in neither."""

    leads: int
    submissions: int


async def submissions_between(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    since: datetime,
    until: datetime,
) -> SubmissionCounts:
    """The sites' submissions made from ``since`` to ``until`` (excluded)."""
    outcomes = await SubmissionRepository(session).outcomes_between(
        workspace_id, site_ids, since, until
    )
    created = outcomes.get("created", 0)
    return SubmissionCounts(leads=created, submissions=created + outcomes.get("merged", 0))
