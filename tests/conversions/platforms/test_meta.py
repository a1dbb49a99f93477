"""The Meta Conversions API adapter against a local server speaking the Graph API's wire
format (``POST /{version}/{pixel_id}/events``, its error envelope)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from leadline.conversions.platforms import registry
from leadline.conversions.platforms.base import Conversion, Destination, Outcome, SettingsRefused
from leadline.conversions.platforms.meta import PLATFORM
from leadline.conversions.platforms.normalise import sha256_hex
from tests.conversions.platforms.fake_api import FakeApi, fake_api
from tests.fixtures.server import free_port

EVENTS = "/v26.0/1234567890123/events"
PIXEL = "/v26.0/1234567890123"
# Meta's documented hashes (customer-information-parameters page), see test_normalise.py.
EMAIL_HASH = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
PHONE_HASH = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
MARY_HASH = "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"
FBC = "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890"
FBP = "fb.1.1558571054389.1098115397"


def destination(url: str, **settings: Any) -> Destination:
    return Destination(
        id="dest-m",
        platform="meta",
        settings={"pixel_id": "1234567890123", **settings},
        credentials={"access_token": "EAAB-token"},
        base_url=url,
    )


def conversion(key: str, **fields: Any) -> Conversion:
    values: dict[str, Any] = {
        "key": key,
        "lead_id": f"lead-{key}",
        "event_name": "QualifiedLead",
        "occurred_at": datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2),
        "consent": {"ad_user_data": True},
        "email": "John_Smith@gmail.com",
    }
    values.update(fields)
    return Conversion(**values)


def send(dest: Destination, batch: list[Conversion]) -> list[Outcome]:
    async def run() -> list[Outcome]:
        async with httpx.AsyncClient(timeout=10) as client:
            return await PLATFORM.send(client, dest, batch)

    return asyncio.run(run())


def connect(dest: Destination) -> str:
    async def run() -> str:
        async with httpx.AsyncClient(timeout=10) as client:
            return await PLATFORM.test_connection(client, dest)

    return asyncio.run(run())


@pytest.fixture
def meta() -> Iterator[FakeApi]:
    with fake_api() as fake:
        yield fake


def graph_error(code: int, message: str, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEf123",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def test_registry_finds_meta() -> None:
    assert registry.adapter("meta") is PLATFORM
    assert PLATFORM.max_batch == 1000
    assert PLATFORM.max_event_age == timedelta(days=7)


def test_events_request_shape(meta: FakeApi) -> None:
    meta.answer(EVENTS, 200, {"events_received": 2, "messages": [], "fbtrace_id": "A1"})
    first = conversion(
        "key-1",
        event_name="Purchase",
        phone_e164="+1 (650)555-1212",
        first_name="Mary",
        last_name="O'Neil",
        click_ids={"fbc": FBC, "fbp": FBP, "gclid": "not-for-meta"},
        ip="203.0.113.9",
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        page_url="https://example.com/contact",
        value=Decimal("99.90"),
        currency="usd",
    )
    second = conversion("key-2", email=None, click_ids={"fbp": FBP})
    outcomes = send(destination(meta.url, action_source="website"), [first, second])
    assert [(o.key, o.state, o.code) for o in outcomes] == [
        ("key-1", "sent", None),
        ("key-2", "sent", None),
    ]

    (request,) = meta.to(EVENTS)
    assert request.method == "POST"
    body = request.json()
    assert body["access_token"] == "EAAB-token"
    assert "test_event_code" not in body
    one, two = body["data"]
    assert one == {
        "event_name": "Purchase",
        "event_time": int(first.occurred_at.timestamp()),
        "event_id": "key-1",
        "action_source": "website",
        "user_data": {
            "em": [EMAIL_HASH],
            "ph": [PHONE_HASH],
            "fn": [MARY_HASH],
            "ln": [sha256_hex("oneil")],
            "fbc": FBC,
            "fbp": FBP,
            "client_ip_address": "203.0.113.9",
            "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        },
        "event_source_url": "https://example.com/contact",
        "custom_data": {"value": 99.9, "currency": "USD"},
    }
    assert two["user_data"] == {"fbp": FBP}
    assert two["action_source"] == "website"
    assert "custom_data" not in two


def test_default_action_source_and_test_code(meta: FakeApi) -> None:
    meta.answer(EVENTS, 200, {"events_received": 1})
    send(destination(meta.url, test_event_code="TEST123"), [conversion("k")])
    body = meta.to(EVENTS)[0].json()
    assert body["test_event_code"] == "TEST123"
    assert body["data"][0]["action_source"] == "system_generated"


def test_conversion_leads_source(meta: FakeApi) -> None:
    meta.answer(EVENTS, 200, {"events_received": 1})
    send(destination(meta.url, lead_event_source="Leadline"), [conversion("k")])
    event = meta.to(EVENTS)[0].json()["data"][0]
    assert event["custom_data"] == {"event_source": "crm", "lead_event_source": "Leadline"}


def test_stale_event_is_never_sent(meta: FakeApi) -> None:
    meta.always(EVENTS, 200, {"events_received": 1})
    old = conversion("old", occurred_at=datetime.now(UTC) - timedelta(days=7, minutes=1))
    fresh = conversion("fresh")
    outcomes = send(destination(meta.url), [old, fresh])
    assert [(o.key, o.state, o.code, o.retry) for o in outcomes] == [
        ("old", "failed", "event_too_old", False),
        ("fresh", "sent", None, False),
    ]
    assert [e["event_id"] for e in meta.to(EVENTS)[0].json()["data"]] == ["fresh"]
    # Only stale events: no request at all.
    send(destination(meta.url), [old])
    assert len(meta.to(EVENTS)) == 1


def test_blockers() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    ok = conversion("a", occurred_at=now - timedelta(days=6, hours=23))
    assert PLATFORM.blockers(ok, now) == []
    old = conversion("b", occurred_at=now - timedelta(days=8))
    assert PLATFORM.blockers(old, now) == ["event_too_old"]
    nothing = conversion("c", email=None, occurred_at=now - timedelta(days=9))
    assert PLATFORM.blockers(nothing, now) == ["event_too_old", "missing_user_data"]
    # Naive times are UTC, on either side.
    naive = now.replace(tzinfo=None)
    assert PLATFORM.blockers(old, naive) == ["event_too_old"]
    assert PLATFORM.blockers(conversion("d", occurred_at=naive - timedelta(days=1)), now) == []


@pytest.mark.parametrize(
    ("status", "code", "subcode"),
    [(400, 17, 2446079), (400, 4, None), (400, 32, None), (400, 613, None), (500, 2, None)],
)
def test_rate_limits_and_temporary_faults_are_retried(
    meta: FakeApi, status: int, code: int, subcode: int | None
) -> None:
    meta.answer(EVENTS, status, graph_error(code, f"(#{code}) limit reached", subcode))
    outcomes = send(destination(meta.url), [conversion("a"), conversion("b")])
    expected = f"{code}/{subcode}" if subcode else str(code)
    assert [(o.state, o.code, o.retry) for o in outcomes] == [("failed", expected, True)] * 2
    assert "fbtrace_id AbCdEf123" in (outcomes[0].message or "")


def test_http_429_is_retried_with_retry_after(meta: FakeApi) -> None:
    meta.answer(
        EVENTS, 429, {"error": {"message": "Too many", "code": 80004}}, **{"Retry-After": "60"}
    )
    (outcome,) = send(destination(meta.url), [conversion("a")])
    assert (outcome.state, outcome.code, outcome.retry, outcome.retry_after) == (
        "failed",
        "80004",
        True,
        60.0,
    )


def test_error_body_fails_with_metas_code(meta: FakeApi) -> None:
    body = graph_error(100, "Invalid parameter", 2804003)
    body["error"]["error_user_msg"] = "The timestamp for this event is too far in the past."
    meta.answer(EVENTS, 400, body)
    outcomes = send(destination(meta.url), [conversion("a"), conversion("b")])
    assert [(o.state, o.code, o.retry, o.retry_after) for o in outcomes] == [
        ("failed", "100/2804003", False, None)
    ] * 2
    assert outcomes[0].message == (
        "The timestamp for this event is too far in the past. (fbtrace_id AbCdEf123)"
    )


def test_network_error_is_a_retry_outcome() -> None:
    (outcome,) = send(destination(f"http://127.0.0.1:{free_port()}"), [conversion("a")])
    assert (outcome.state, outcome.code, outcome.retry) == ("failed", "network_error", True)


def test_connection_happy(meta: FakeApi) -> None:
    meta.answer(PIXEL, 200, {"id": "1234567890123", "name": "Shop pixel"})
    sentence = connect(destination(meta.url))
    assert "1234567890123" in sentence
    assert "Shop pixel" in sentence
    (request,) = meta.to(PIXEL)
    assert request.method == "GET"
    assert request.query["access_token"] == ["EAAB-token"]
    assert meta.to(EVENTS) == []


def test_connection_refused(meta: FakeApi) -> None:
    meta.answer(PIXEL, 400, graph_error(190, "Invalid OAuth access token.", 463))
    with pytest.raises(SettingsRefused) as refused:
        connect(destination(meta.url))
    assert refused.value.field_name == "access_token"
    assert "190/463" in refused.value.message


def test_connection_refused_for_an_unknown_pixel(meta: FakeApi) -> None:
    meta.answer(PIXEL, 400, graph_error(100, "Unsupported get request.", 33))
    with pytest.raises(SettingsRefused) as refused:
        connect(destination(meta.url))
    assert refused.value.field_name == "pixel_id"


@pytest.mark.parametrize(
    ("settings", "credentials", "field_name"),
    [
        ({"pixel_id": "abc"}, {"access_token": "t"}, "pixel_id"),
        ({"pixel_id": "1", "action_source": "crm"}, {"access_token": "t"}, "action_source"),
        ({"pixel_id": "1", "test_event_code": 5}, {"access_token": "t"}, "test_event_code"),
        ({"pixel_id": "1"}, {}, "access_token"),
    ],
)
def test_check_refuses(
    settings: dict[str, Any], credentials: dict[str, str], field_name: str
) -> None:
    with pytest.raises(SettingsRefused) as refused:
        PLATFORM.check(settings, credentials)
    assert refused.value.field_name == field_name


def test_check_accepts() -> None:
    PLATFORM.check({"pixel_id": "1234", "action_source": "website"}, {"access_token": "t"})
