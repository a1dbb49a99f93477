"""Every ``/analytics/*`` report route, gathered from the modules that answer them. The
management routes (sites, forms, integrations) are in leadline.surfaces.pulsegate.management."""

from __future__ import annotations

from leadline.surfaces.pulsegate.anomaly_reports import ANOMALY_REPORTS
from leadline.surfaces.pulsegate.export import EXPORT_REPORTS
from leadline.surfaces.pulsegate.lead_reports import LEAD_REPORTS
from leadline.surfaces.pulsegate.marketing_keys import MARKETING_KEY_ROUTES
from leadline.surfaces.pulsegate.reports import report_routes
from leadline.surfaces.pulsegate.traffic import TRAFFIC_REPORTS

ANALYTICS_ROUTES = [
    *report_routes([*TRAFFIC_REPORTS, *LEAD_REPORTS, *ANOMALY_REPORTS, *EXPORT_REPORTS]),
    *MARKETING_KEY_ROUTES,
]
