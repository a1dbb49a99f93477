"""The export of events, visits and leads, streamed, for admins."""

from __future__ import annotations

from leadline.surfaces.pulsegate.reports import Report

EXPORT_REPORTS: list[Report] = []
