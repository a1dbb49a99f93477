"""Traffic reports: overview, sessions/daily, pages/top, geo, engagement, sources, realtime and
storage."""

from __future__ import annotations

from leadline.surfaces.pulsegate.reports import Report

TRAFFIC_REPORTS: list[Report] = []
