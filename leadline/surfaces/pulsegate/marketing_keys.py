"""Marketing keys, for admins: ``/analytics/marketing-keys``."""

from __future__ import annotations

from starlette.routing import Route

MARKETING_KEY_ROUTES: list[Route] = []
