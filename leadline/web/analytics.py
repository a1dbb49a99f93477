"""The Analytics pages: overview cards, visits per day, sources, top pages, countries,
engagement, realtime and anomalies, drawn from the analytics services."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
