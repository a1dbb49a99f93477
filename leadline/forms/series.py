"""The submissions' hourly series, as anomaly detection reads them. Every such read of
submissions is here (see tracking.series for the same of visits and events)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.forms.series_repository import Span, SubmissionSeriesRepository


@dataclass(frozen=True, slots=True)
class HourlySubmissions:
    """Submissions per UTC hour, and those of them sent from an address the caller's test
    picked out (datacenter, cloud or VPN networks)."""

    total: dict[datetime, int] = field(default_factory=dict)
    picked: dict[datetime, int] = field(default_factory=dict)


async def submissions_by_hour(
    session: AsyncSession,
    workspace_id: str,
    site_id: str,
    spans: Sequence[Span],
    *,
    pick: Callable[[str | None], bool],
) -> HourlySubmissions:
    """Every submission made through the workspace's site in each hour of ``spans`` (kept
    aside ones too: a bot's submission is still a submission), counted in ``total``, and in
    ``picked`` when ``pick`` holds for the address it came from."""
    found = HourlySubmissions()
    rows = await SubmissionSeriesRepository(session).by_hour_and_address(
        workspace_id, site_id, spans
    )
    for hour, ip, count in rows:
        found.total[hour] = found.total.get(hour, 0) + count
        if pick(ip):
            found.picked[hour] = found.picked.get(hour, 0) + count
    return found
