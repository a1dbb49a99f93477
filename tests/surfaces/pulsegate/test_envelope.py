"""Every PulseGate answer is JSON, ``{"error": "..."}`` for errors: routing's own refusals (no
such path, a method the path does not take, with Allow) and anything unforeseen too, on the
plain-ASGI tracking routes as on the others."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from leadline.surfaces.pulsegate import envelope


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/track/event", "POST"),
        ("PUT", "/track/session/start", "POST"),
        ("DELETE", "/health", "GET, HEAD"),
        ("PUT", "/forms/config", "GET, HEAD, OPTIONS"),
        ("GET", "/lead", "POST"),
        ("GET", "/", "POST"),
        ("GET", "/lead.capture/crm-callback", "POST"),
    ],
)
def test_a_method_the_path_does_not_take_is_405_with_allow(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    answer = client.request(method, path)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == allow
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"error": f"{method} is not allowed here; use {allow}"}
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", ["/track/nothing", "/nothing", "/lead.capture/nothing"])
def test_a_path_no_route_serves_is_404(client: TestClient, path: str) -> None:
    answer = client.post(path)
    assert answer.status_code == 404
    assert answer.json() == {"error": f"no endpoint at {path}"}


def test_anything_unforeseen_is_a_500_in_json() -> None:
    async def broken(request: Request) -> Response:
        raise KeyError("a bug")

    app = Starlette(
        routes=[Route("/broken", broken)],
        exception_handlers={Exception: envelope.internal_error},
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/broken")
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error; the request was not applied"}
