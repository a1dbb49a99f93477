"""The request log: one line per answered request, carrying the request's id."""

from __future__ import annotations

import json
import logging

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings


async def _logs_a_line(request: Request) -> PlainTextResponse:
    logging.getLogger("leadline.probe").warning("inside the request")
    return PlainTextResponse("ok")


def _lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_json_request_line_carries_fields_and_request_id(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings.model_copy(update={"log_format": "json"}))
    app.add_route("/probe", _logs_a_line)
    with TestClient(app) as client:
        capsys.readouterr()
        answer = client.get("/probe")
        missing = client.get("/no-such-page")
        client.post("/track/event", content=b"{}")
    lines = _lines(capsys.readouterr().err)

    rid = answer.headers["X-Request-ID"]
    requests = [line for line in lines if line["event"] == "request"]
    assert requests[0] == {
        "event": "request",
        "method": "GET",
        "path": "/probe",
        "status": 200,
        "duration_ms": requests[0]["duration_ms"],
        "request_id": rid,
        "level": "info",
        "logger": "leadline.requests",
        "timestamp": requests[0]["timestamp"],
    }
    assert isinstance(requests[0]["duration_ms"], float)
    assert requests[0]["duration_ms"] >= 0
    # A line written by the handler, through the standard library, carries the id too.
    inside = next(line for line in lines if line["event"] == "inside the request")
    assert inside["request_id"] == rid
    assert inside["level"] == "warning"
    assert requests[1]["status"] == 404
    assert requests[1]["request_id"] == missing.headers["X-Request-ID"]
    # Tracking requests are answered before the middleware that logs: no line.
    assert [line["path"] for line in requests] == ["/probe", "/no-such-page"]


def test_console_request_line_is_readable(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(settings)) as client:
        capsys.readouterr()
        rid = client.get("/health").headers["X-Request-ID"]
    line = next(line for line in capsys.readouterr().err.splitlines() if " request " in line)
    assert "method=GET" in line
    assert "path=/health" in line
    assert "status=200" in line
    assert f"request_id={rid}" in line
    assert "duration_ms=" in line


def test_warning_level_leaves_request_lines_out(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(settings.model_copy(update={"log_level": "warning"}))) as client:
        capsys.readouterr()
        client.get("/health")
    assert "request" not in capsys.readouterr().err
