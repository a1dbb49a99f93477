"""The Leads pages: the lead table with its filters, one lead's timeline, status changes
in place and the CSV export of the current filter."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
