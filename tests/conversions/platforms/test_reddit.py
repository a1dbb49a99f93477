"""Reddit Conversions API (v2.0) against a local server speaking its format: POST
conversions/events/{ad_account_id} with a bearer token, taken or refused as a whole."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from leadline.conversions.platforms.base import Conversion, Outcome, SettingsRefused
from leadline.conversions.platforms.reddit import PLATFORM
from leadline.conversions.platforms.registry import adapter
from tests.conversions.platforms.fake_api import (
    EMAIL_SHA256,
    LEAD_SHA256,
    NOW,
    FakeApi,
    Reply,
    conversion,
    destination,
    fake_api,
    nowhere,
    run,
)

EVENTS = "/conversions/events/t2_abc123"
SETTINGS: dict[str, Any] = {"ad_account_id": "t2_abc123"}
CREDENTIALS = {"access_token": "rd-token"}


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with fake_api() as api:
        yield api


def send(api_url: str, batch: list[Conversion]) -> list[Outcome]:
    where = destination("reddit", api_url, SETTINGS, CREDENTIALS)
    return run(lambda c: PLATFORM.send(c, where, batch))


def connect(api_url: str) -> str:
    where = destination("reddit", api_url, SETTINGS, CREDENTIALS)
    return run(lambda c: PLATFORM.test_connection(c, where))


def test_the_registry_finds_it() -> None:
    assert adapter("reddit") is PLATFORM
    assert PLATFORM.click_fields == ("rdt_cid",)
    assert PLATFORM.max_event_age == timedelta(days=7)


def test_check_names_the_field() -> None:
    PLATFORM.check(SETTINGS, CREDENTIALS)
    with pytest.raises(SettingsRefused) as account:
        PLATFORM.check({"ad_account_id": "a/../b"}, CREDENTIALS)
    assert account.value.field_name == "ad_account_id"
    with pytest.raises(SettingsRefused) as mode:
        PLATFORM.check({**SETTINGS, "test_mode": "yes"}, CREDENTIALS)
    assert mode.value.field_name == "test_mode"
    with pytest.raises(SettingsRefused) as token:
        PLATFORM.check(SETTINGS, {"access_token": " "})
    assert token.value.field_name == "access_token"


def test_blockers() -> None:
    assert PLATFORM.blockers(conversion(click_ids={"rdt_cid": "x"}), NOW) == []
    assert PLATFORM.blockers(conversion(email=None), NOW) == ["no_click_id_or_contact"]
    old = conversion(occurred_at=NOW - timedelta(days=8))
    assert PLATFORM.blockers(old, NOW) == ["event_too_old"]


def test_event_shape(api: FakeApi) -> None:
    api.reply(EVENTS, Reply(200, {"message": "Successfully processed 3 conversion events."}))
    batch = [
        conversion(
            "cv_1",
            event_name="Purchase",
            click_ids={"rdt_cid": "Case_Kept_1"},
            value=Decimal("42.50"),
            currency="usd",
        ),
        conversion("cv_2", email=None, click_ids={"rdt_cid": "c2"}),
        conversion("cv_3", event_name="Qualified"),
    ]
    outcomes = send(api.url, batch)

    assert [(o.key, o.state) for o in outcomes] == [
        ("cv_1", "sent"),
        ("cv_2", "sent"),
        ("cv_3", "sent"),
    ]
    [request] = api.to(EVENTS)
    assert request.method == "POST"
    assert request.headers["authorization"] == "Bearer rd-token"
    assert request.json() == {
        "test_mode": False,
        "events": [
            {
                "event_at": "2026-12-07T08:00:00Z",
                "event_type": {"tracking_type": "Purchase"},
                "event_metadata": {
                    "conversion_id": "cv_1",
                    "value_decimal": 42.5,
                    "currency": "USD",
                },
                "user": {"external_id": LEAD_SHA256, "email": EMAIL_SHA256},
                "click_id": "Case_Kept_1",
            },
            {
                "event_at": "2026-12-07T08:00:00Z",
                "event_type": {"tracking_type": "Lead"},
                "event_metadata": {"conversion_id": "cv_2"},
                "user": {"external_id": LEAD_SHA256},
                "click_id": "c2",
            },
            {
                "event_at": "2026-12-07T08:00:00Z",
                "event_type": {"tracking_type": "Custom", "custom_event_name": "Qualified"},
                "event_metadata": {"conversion_id": "cv_3"},
                "user": {"external_id": LEAD_SHA256, "email": EMAIL_SHA256},
            },
        ],
    }


def test_an_error_body_fails_every_event_with_its_message(api: FakeApi) -> None:
    api.reply(EVENTS, Reply(400, {"message": "event_at: event is older than 7 days"}))
    outcomes = send(api.url, [conversion("cv_1"), conversion("cv_2")])
    assert [(o.key, o.state, o.code, o.message, o.retry) for o in outcomes] == [
        ("cv_1", "failed", "http_400", "event_at: event is older than 7 days", False),
        ("cv_2", "failed", "http_400", "event_at: event is older than 7 days", False),
    ]
    coded = {"error": {"code": "INVALID_ARGUMENT", "message": "click_id is malformed"}}
    api.reply(EVENTS, Reply(400, coded))
    [outcome] = send(api.url, [conversion()])
    assert (outcome.code, outcome.message) == ("INVALID_ARGUMENT", "click_id is malformed")


def test_rate_limit_server_and_network_errors_are_retried(api: FakeApi) -> None:
    api.reply(EVENTS, Reply(429, {"message": "Too Many Requests"}, {"Retry-After": "5"}))
    [outcome] = send(api.url, [conversion()])
    assert (outcome.code, outcome.retry, outcome.retry_after) == ("http_429", True, 5.0)
    api.reply(EVENTS, Reply(500, None))
    [outcome] = send(api.url, [conversion()])
    assert (outcome.code, outcome.retry) == ("http_500", True)
    [outcome] = send(nowhere(), [conversion()])
    assert (outcome.code, outcome.retry) == ("network", True)


def test_connection_sends_one_test_mode_event(api: FakeApi) -> None:
    api.reply(EVENTS, Reply(200, {"message": "Successfully processed 1 conversion events."}))
    said = connect(api.url)
    assert "t2_abc123" in said
    [request] = api.to(EVENTS)
    assert request.json()["test_mode"] is True
    assert request.headers["authorization"] == "Bearer rd-token"


def test_connection_refused(api: FakeApi) -> None:
    api.reply(EVENTS, Reply(401, {"error": {"code": "UNAUTHORIZED", "message": "invalid token"}}))
    with pytest.raises(SettingsRefused) as refused:
        connect(api.url)
    assert refused.value.field_name == "access_token"
    assert "UNAUTHORIZED" in refused.value.message
