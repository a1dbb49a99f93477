"""Snapchat Conversions API v3 against a local server speaking its format: POST
/{pixel_id}/events?access_token=..., and /events/validate for the connection test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from leadline.conversions.platforms.base import Conversion, Outcome, SettingsRefused
from leadline.conversions.platforms.registry import adapter
from leadline.conversions.platforms.snapchat import PLATFORM
from tests.conversions.platforms.fake_api import (
    EMAIL_SHA256,
    LEAD_SHA256,
    NOW,
    PHONE_DIGITS_SHA256,
    FakeApi,
    Reply,
    conversion,
    destination,
    fake_api,
    nowhere,
    run,
)

PIXEL = "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
EVENTS = f"/{PIXEL}/events"
VALIDATE = f"/{PIXEL}/events/validate"
SETTINGS: dict[str, Any] = {"pixel_id": PIXEL}
CREDENTIALS = {"access_token": "snap-token"}
EVENT_TIME = 1796630400


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with fake_api() as api:
        yield api


def send(
    api_url: str, batch: list[Conversion], settings: dict[str, Any] = SETTINGS
) -> list[Outcome]:
    where = destination("snapchat", api_url, settings, CREDENTIALS)
    return run(lambda c: PLATFORM.send(c, where, batch))


def connect(api_url: str) -> str:
    where = destination("snapchat", api_url, SETTINGS, CREDENTIALS)
    return run(lambda c: PLATFORM.test_connection(c, where))


def test_the_registry_finds_it() -> None:
    assert adapter("snapchat") is PLATFORM
    assert PLATFORM.click_fields == ("sccid",)
    assert PLATFORM.max_batch == 2000


def test_check_names_the_field() -> None:
    PLATFORM.check(SETTINGS, CREDENTIALS)
    PLATFORM.check({**SETTINGS, "action_source": "WEB"}, CREDENTIALS)
    with pytest.raises(SettingsRefused) as pixel:
        PLATFORM.check({"pixel_id": "../events"}, CREDENTIALS)
    assert pixel.value.field_name == "pixel_id"
    with pytest.raises(SettingsRefused) as source:
        PLATFORM.check({**SETTINGS, "action_source": "website"}, CREDENTIALS)
    assert source.value.field_name == "action_source"


def test_blockers() -> None:
    assert PLATFORM.blockers(conversion(click_ids={"sccid": "x"}), NOW) == []
    bare = conversion(email=None, phone_e164=None, ip=None)
    assert PLATFORM.blockers(bare, NOW) == ["no_click_id_or_contact"]
    old = conversion(occurred_at=NOW - timedelta(days=38))
    assert PLATFORM.blockers(old, NOW) == ["event_too_old"]


def test_event_shape_with_hashed_user_data(api: FakeApi) -> None:
    api.reply(EVENTS, Reply(200, {"status": "SUCCESS", "reason": "SUCCESS"}))
    batch = [
        conversion(
            "cv_1",
            event_name="PURCHASE",
            click_ids={"sccid": "Snap-Click-Kept"},
            value=Decimal("10.00"),
            currency="usd",
        ),
        conversion(
            "cv_2", event_name="SIGN_UP", email=None, phone_e164=None, ip=None, user_agent=None
        ),
    ]
    outcomes = send(api.url, batch, {**SETTINGS, "action_source": "WEB"})

    assert [(o.key, o.state) for o in outcomes] == [("cv_1", "sent"), ("cv_2", "sent")]
    [request] = api.to(EVENTS)
    assert request.method == "POST"
    assert request.query == {"access_token": ["snap-token"]}
    assert request.json() == {
        "data": [
            {
                "event_name": "PURCHASE",
                "event_time": EVENT_TIME,
                "event_id": "cv_1",
                "action_source": "WEB",
                "user_data": {
                    "external_id": [LEAD_SHA256],
                    "sc_click_id": "Snap-Click-Kept",
                    "em": [EMAIL_SHA256],
                    "ph": [PHONE_DIGITS_SHA256],
                    "client_ip_address": "203.0.113.7",
                    "client_user_agent": "Mozilla/5.0",
                },
                "event_source_url": "https://example.com/contact",
                "custom_data": {"value": "10.00", "currency": "USD"},
            },
            {
                "event_name": "SIGN_UP",
                "event_time": EVENT_TIME,
                "event_id": "cv_2",
                "action_source": "WEB",
                "user_data": {"external_id": [LEAD_SHA256]},
                "event_source_url": "https://example.com/contact",
            },
        ]
    }


def test_offline_is_the_default_source_and_has_no_page(api: FakeApi) -> None:
    api.reply(EVENTS, Reply(200, {"status": "SUCCESS"}))
    send(api.url, [conversion(click_ids={"sccid": "s"})])
    [event] = api.to(EVENTS)[0].json()["data"]
    assert event["action_source"] == "OFFLINE"
    assert "event_source_url" not in event


def test_an_error_body_fails_every_event_with_its_status(api: FakeApi) -> None:
    api.reply(EVENTS, Reply(400, {"status": "INVALID", "reason": "event_name is not supported"}))
    outcomes = send(api.url, [conversion("cv_1"), conversion("cv_2")])
    assert [(o.key, o.state, o.code, o.message, o.retry) for o in outcomes] == [
        ("cv_1", "failed", "INVALID", "event_name is not supported", False),
        ("cv_2", "failed", "INVALID", "event_name is not supported", False),
    ]
    api.reply(EVENTS, Reply(200, {"status": "FAILED", "reason": "pixel is disabled"}))
    [outcome] = send(api.url, [conversion()])
    assert (outcome.state, outcome.code, outcome.retry) == ("failed", "FAILED", False)


def test_rate_limit_server_and_network_errors_are_retried(api: FakeApi) -> None:
    api.reply(
        EVENTS, Reply(429, {"status": "FAILED", "reason": "Rate limited"}, {"Retry-After": "2"})
    )
    [outcome] = send(api.url, [conversion()])
    assert (outcome.code, outcome.retry, outcome.retry_after) == ("FAILED", True, 2.0)
    api.reply(EVENTS, Reply(503, None))
    [outcome] = send(api.url, [conversion()])
    assert (outcome.code, outcome.retry) == ("http_503", True)
    [outcome] = send(nowhere(), [conversion()])
    assert (outcome.code, outcome.retry) == ("network", True)


def test_connection_uses_the_validate_endpoint(api: FakeApi) -> None:
    api.reply(VALIDATE, Reply(200, {"status": "VALID", "reason": "Events validated"}))
    said = connect(api.url)
    assert PIXEL in said
    [request] = api.to(VALIDATE)
    assert request.query == {"access_token": ["snap-token"]}
    assert api.to(EVENTS) == []


def test_connection_refused(api: FakeApi) -> None:
    api.reply(VALIDATE, Reply(401, {"status": "FAILED", "reason": "Invalid access token"}))
    with pytest.raises(SettingsRefused) as refused:
        connect(api.url)
    assert refused.value.field_name == "access_token"
    assert "Invalid access token" in refused.value.message
