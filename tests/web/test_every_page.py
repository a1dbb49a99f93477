"""Every route of the dashboard, found from its route table (so a new page cannot be left out):
without a sign-in a page asked for in the address bar goes to the sign-in page and anything
else gets 401; signed in, a request that could change something needs the CSRF token; a
person's role opens only its parts of the dashboard."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.web import access
from leadline.web.router import ROUTES
from tests.fixtures.web import (
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
    sign_in,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

# Pages for someone not signed in yet: signing in, the first owner's setup, an invitation.
PUBLIC = {"/signin", "/setup", "/invite"}
# Any id a path asks for: none of these exists, which is enough for the checks here.
_PARAM = re.compile(r"\{([a-z_]+)\}")


def _path(route: Route) -> str:
    return "/app" + _PARAM.sub(lambda found: f"{found.group(1)}_nope", route.path)


def _routes(method: str) -> list[tuple[str, str]]:
    """(path, the route as written) of every signed-in route taking ``method``."""
    return [
        (_path(route), route.path)
        for route in ROUTES
        if isinstance(route, Route) and route.path not in PUBLIC and method in (route.methods or ())
    ]


def _area(route_path: str) -> str | None:
    first = route_path.strip("/").split("/")[0]
    return first if first in access.AREAS else None


def test_the_route_table_has_pages_of_every_kind() -> None:
    # The tests below look at what the table holds: an empty table would pass them all.
    assert len(_routes("GET")) >= 20
    assert len(_routes("POST")) >= 20
    assert {_area(path) for _, path in _routes("GET")} >= set(access.AREAS)


@pytest.mark.parametrize(("path", "route"), _routes("GET"))
def test_a_page_sends_someone_not_signed_in_to_the_sign_in_page(
    client: TestClient, path: str, route: str
) -> None:
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 303, route
    assert answer.headers["location"].startswith("/app/signin?next=/app/")
    fragment = client.get(path, headers={"HX-Request": "true"}, follow_redirects=False)
    assert fragment.status_code == 401, route
    assert fragment.headers["HX-Redirect"] == "/app/signin"


@pytest.mark.parametrize(("path", "route"), _routes("POST"))
def test_a_change_from_someone_not_signed_in_is_refused(
    client: TestClient, path: str, route: str
) -> None:
    answer = client.post(path, data={"csrf_token": "0" * 64}, follow_redirects=False)
    assert answer.status_code == 401, route
    assert "Sign in" in answer.text


def test_a_change_without_the_csrf_token_is_refused_everywhere(
    client: TestClient, settings: Settings
) -> None:
    make_member(settings, role="owner")
    token = sign_in(client)
    refused = []
    for path, route in _routes("POST"):
        for data, headers in (({}, {}), ({"csrf_token": "f" * 64}, {"X-CSRF-Token": "0" * 64})):
            answer = client.post(path, data=data, headers=headers, follow_redirects=False)
            if answer.status_code != 403:
                refused.append(f"{route}: {answer.status_code}")
    assert refused == []
    # The same browser's token is taken: the check above refused the request, not the person.
    assert client.post("/app/signout", data={"csrf_token": token}).status_code == 200


@pytest.mark.parametrize("role", ["agent", "marketing"])
def test_a_role_opens_only_its_parts_of_the_dashboard(
    client: TestClient, settings: Settings, role: str
) -> None:
    # The first person of a workspace is its owner.
    make_member(settings, role="owner")
    make_member(settings, email="them@example.com", role=role)
    sign_in(client, "them@example.com")
    home = client.get("/app/")
    opened = set(access.areas_of(role))
    for area in access.AREAS:
        linked = re.findall(rf'href="/app/{area}[^"]*"', home.text)
        assert bool(linked) == (area in opened), (area, linked)
    wrong = []
    for path, route in _routes("GET"):
        area = _area(route)
        if area is None or area in opened:
            continue
        answer = client.get(path, follow_redirects=False)
        if answer.status_code != 403:
            wrong.append(f"{route}: {answer.status_code}")
    assert wrong == []
