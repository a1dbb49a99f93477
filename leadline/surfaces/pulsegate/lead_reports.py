"""Lead reports: the lead list and a lead's timeline, the filter options, and the engine's
submission aggregates."""

from __future__ import annotations

from leadline.surfaces.pulsegate.reports import Report

LEAD_REPORTS: list[Report] = []
