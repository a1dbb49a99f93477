"""The routes the tests of bad input run over (tests/fixtures/routes.py) are all the routes: the
OpenAPI documents name every route of the apps' route tables, each route that takes a body or
a query has a valid example, and each example is a request its route takes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest
from starlette.routing import BaseRoute, Mount

from leadline.app import create_app
from leadline.config import Settings
from leadline.surfaces.pulsegate import tracking
from leadline.surfaces.pulsegate.anomaly_reports import ANOMALY_REPORTS
from leadline.surfaces.pulsegate.export import EXPORT_REPORTS
from leadline.surfaces.pulsegate.lead_reports import LEAD_REPORTS
from leadline.surfaces.pulsegate.management import _RESOURCES
from leadline.surfaces.pulsegate.marketing_keys import _RESOURCES as _KEY_RESOURCES
from leadline.surfaces.pulsegate.traffic import TRAFFIC_REPORTS
from leadline.tracking.scripts import SCRIPT_ROUTES
from tests.fixtures.badinput import World
from tests.fixtures.routes import (
    ALIASES,
    ALL_OPERATIONS,
    EXAMPLES,
    OPERATIONS,
    Operation,
    example_of,
    ids,
)

# Served, and no API: the browser scripts, the documents themselves and their pages.
_NOT_API = {
    *(f"GET {route.path}" for route in SCRIPT_ROUTES),  # type: ignore[attr-defined]
    "GET /openapi.json",
    "GET /widget/v1/openapi.json",
    # A browser's way to the dashboard (POST / is PulseGate's capture, documented).
    "GET /",
    "GET /api/openapi.json",
    "GET /api/docs",
    "GET /api/docs/oauth2-redirect",
    "GET /api/v1/openapi.json",
    "GET /api/v1/docs",
    "GET /api/v1/docs/oauth2-redirect",
}
_REPORTS = [*TRAFFIC_REPORTS, *LEAD_REPORTS, *ANOMALY_REPORTS, *EXPORT_REPORTS]
# Routes every method reaches: their handlers say which methods they take.
_MANAGEMENT = {
    *(path for path, _ in (*_RESOURCES, *_KEY_RESOURCES)),
    *(report.path for report in _REPORTS),
}


def _labels(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[str]:
    """``METHOD /path`` of every route, mounted apps and included routers too (HEAD and the
    preflights left out: they take nothing)."""
    for route in routes:
        if isinstance(route, Mount):
            if route.path == "/app":
                continue  # the dashboard: pages, not an API
            yield from _labels(route.app.router.routes, prefix + route.path)  # type: ignore[attr-defined]
            continue
        included = getattr(route, "original_router", None)  # FastAPI's include_router
        if included is not None:
            yield from _labels(included.routes, prefix + route.include_context.prefix)  # type: ignore[attr-defined]
            continue
        path = prefix + getattr(route, "path_format", getattr(route, "path", ""))
        if path in _MANAGEMENT:
            continue  # every method reaches them: the handlers below say which they take
        for method in getattr(route, "methods", None) or ():
            if method not in ("HEAD", "OPTIONS"):
                yield f"{method} {path}"


def route_table() -> set[str]:
    app = create_app(Settings(database_url="sqlite:///:memory:"))
    labels = set(_labels(app.router.routes))
    labels |= {f"POST {path}" for path in tracking.ROUTES}
    labels |= {
        f"{method} {path}"
        for path, handlers in (*_RESOURCES, *_KEY_RESOURCES)
        for method in handlers
    }
    labels |= {f"GET {report.path}" for report in _REPORTS}
    return labels


def test_the_documents_name_every_route() -> None:
    documented = {op.label for op in ALL_OPERATIONS}
    served = route_table() - _NOT_API - set(ALIASES)
    assert served - documented == set(), "served, but in no OpenAPI document"
    assert documented - served == set(), "documented, but not served"


def test_every_route_has_an_example() -> None:
    labels = {op.label for op in OPERATIONS}
    missing = labels - set(EXAMPLES) - set(ALIASES)
    assert not missing, f"routes without an example in tests/fixtures/routes.py: {missing}"
    assert set(EXAMPLES) - labels == set(), "examples of routes that are gone"


@pytest.mark.parametrize("operation", OPERATIONS, ids=ids(OPERATIONS))
def test_the_example_is_taken(world: World, operation: Operation) -> None:
    answer = world.send_valid(operation)
    assert answer.status_code == example_of(operation).status, answer.text
