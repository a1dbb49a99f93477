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
from leadline.kit.tokens import visible_prefix
from tests.fixtures.factories import make_key, make_site


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
        "route": "/probe",
        "status": 200,
        "key_prefix": None,
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
    assert [line["route"] for line in requests] == ["/probe", "<unmatched>"]


def test_console_request_line_is_readable(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(settings.model_copy(update={"log_format": "console"}))) as client:
        capsys.readouterr()
        rid = client.get("/health").headers["X-Request-ID"]
    line = next(line for line in capsys.readouterr().err.splitlines() if " request " in line)
    assert "method=GET" in line
    assert "route=/health" in line
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


def test_auto_format_is_json_off_a_terminal(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert settings.log_format == "auto"
    with TestClient(create_app(settings)) as client:
        capsys.readouterr()
        rid = client.get("/health").headers["X-Request-ID"]
    (line,) = [line for line in _lines(capsys.readouterr().err) if line["event"] == "request"]
    assert (line["route"], line["request_id"], line["status"]) == ("/health", rid, 200)


def test_json_line_names_the_route_template_and_the_keys_prefix(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    key = make_key(settings, "acme", "admin")
    with TestClient(create_app(settings.model_copy(update={"log_format": "json"}))) as client:
        capsys.readouterr()
        client.get("/api/leads/ld_12345", headers={"X-API-KEY": key})
        client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {key}"})
    lines = [line for line in _lines(capsys.readouterr().err) if line["event"] == "request"]
    assert [(line["route"], line["status"]) for line in lines] == [
        ("/api/leads/{lead_id}", 404),
        ("/api/v1/contacts", 200),
    ]
    assert all(line["key_prefix"] == visible_prefix(key) for line in lines)
    assert all(isinstance(line["duration_ms"], float) for line in lines)


# What a request may carry that the log must never: an email address, a phone number, the
# client's address, an API key (valid or not), a password.
EMAIL = "private.person@example.org"
PHONE = "+31612345678"
CLIENT_IP = "198.51.100.77"
PASSWORD = "hunter2-correct-horse"


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_no_secret_or_personal_field_reaches_the_log(
    settings: Settings, capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    key = make_key(settings, "acme", "admin")
    site_key = make_site(settings, "acme", "shop.example")
    configured = settings.model_copy(update={"log_format": log_format, "log_level": "debug"})
    person = {"name": "Private Person", "email": EMAIL, "phone": PHONE, "password": PASSWORD}
    page = {"Origin": "https://shop.example", "User-Agent": "Mozilla/5.0 Chrome/126.0"}
    with TestClient(create_app(configured), client=(CLIENT_IP, 5555)) as client:
        capsys.readouterr()
        answers = [
            # In a body, a query, a path, as a good key and as a wrong one.
            client.post("/api/leads", json=person, headers={"X-API-KEY": key}),
            client.get(f"/api/leads?email={EMAIL}&phone={PHONE}", headers={"X-API-KEY": key}),
            client.get(f"/api/leads/{EMAIL}", headers={"X-API-KEY": key}),
            client.get(f"/api/v1/contacts/{PHONE}", headers={"Authorization": f"Bearer {key}"}),
            client.get("/api/leads", headers={"X-API-KEY": key + "x"}),
            client.get(f"/no/such/{EMAIL}?key={key}"),
            client.post(
                "/lead.capture",
                json={"siteKey": site_key, "email": EMAIL, "phone": PHONE},
                headers=page,
            ),
            client.post("/api/leads", content=b"{broken " + EMAIL.encode()),
            client.post("/app/signin", data={"email": EMAIL, "password": PASSWORD}),
        ]
    assert {answer.status_code for answer in answers} & {200, 201}
    written = capsys.readouterr().err
    assert written.count("request") >= len(answers)
    for secret in (EMAIL, "private.person", PHONE, "612345678", CLIENT_IP, key, PASSWORD):
        assert secret not in written, secret
