"""What every analytics report is asked: whose data, which sites, which days in which zone,
and how much the caller may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from leadline.kit.periods import Period


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """One report's question.

    ``site_ids`` are the sites reported on: the one the caller named, or every site the
    workspace has had (deleted ones too: their rollups stay). ``period`` is the range of days
    in the caller's zone (``period.previous`` is the one a number is compared with). ``now``
    is the moment the report is made (the realtime report counts back from it). ``masked``
    says email and phone must be masked; ``role`` and ``pages`` are the caller's role and the
    pages it may open (every page for an admin)."""

    workspace_id: str
    site_ids: tuple[str, ...]
    period: Period
    now: datetime
    role: str
    pages: tuple[str, ...]
    masked: bool = False
