"""The anomalies report."""

from __future__ import annotations

from leadline.surfaces.pulsegate.reports import Report

ANOMALY_REPORTS: list[Report] = []
