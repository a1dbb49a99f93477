"""TikTok Events API 2.0 against a local server speaking its format: POST event/track/ with
Access-Token, HTTP 200 with code 0 (taken) or a non-zero code and message (refused)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from leadline.conversions.platforms.base import Conversion, Outcome, SettingsRefused
from leadline.conversions.platforms.registry import adapter
from leadline.conversions.platforms.tiktok import PLATFORM
from tests.conversions.platforms.fake_api import (
    EMAIL_SHA256,
    LEAD_SHA256,
    NOW,
    PHONE_PLUS_SHA256,
    FakeApi,
    Reply,
    conversion,
    destination,
    fake_api,
    nowhere,
    run,
)

TRACK = "/event/track/"
SETTINGS: dict[str, Any] = {"event_source_id": "CPIXEL123", "advertiser_id": "7000000001"}
CREDENTIALS = {"access_token": "tt-token"}
OK = {"code": 0, "message": "OK", "request_id": "r-1", "data": {}}
# 2026-12-07T08:00:00Z, when conversion() happened.
EVENT_TIME = 1796630400


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with fake_api() as api:
        yield api


def send(
    api_url: str, batch: list[Conversion], settings: dict[str, Any] = SETTINGS
) -> list[Outcome]:
    where = destination("tiktok", api_url, settings, CREDENTIALS)
    return run(lambda c: PLATFORM.send(c, where, batch))


def connect(api_url: str) -> str:
    where = destination("tiktok", api_url, SETTINGS, CREDENTIALS)
    return run(lambda c: PLATFORM.test_connection(c, where))


def test_the_registry_finds_it() -> None:
    assert adapter("tiktok") is PLATFORM
    assert PLATFORM.click_fields == ("ttclid",)


def test_check_names_the_field() -> None:
    PLATFORM.check(SETTINGS, CREDENTIALS)
    with pytest.raises(SettingsRefused) as missing:
        PLATFORM.check({"advertiser_id": "1"}, CREDENTIALS)
    assert missing.value.field_name == "event_source_id"
    with pytest.raises(SettingsRefused) as source:
        PLATFORM.check({**SETTINGS, "event_source": "crm"}, CREDENTIALS)
    assert source.value.field_name == "event_source"
    with pytest.raises(SettingsRefused) as token:
        PLATFORM.check(SETTINGS, {})
    assert token.value.field_name == "access_token"


def test_blockers() -> None:
    assert PLATFORM.blockers(conversion(click_ids={"ttclid": "x"}), NOW) == []
    bare = conversion(email=None, phone_e164=None)
    assert PLATFORM.blockers(bare, NOW) == ["no_click_id_or_contact"]


def test_event_shape_with_hashed_user_data(api: FakeApi) -> None:
    api.reply(TRACK, Reply(200, OK))
    batch = [
        conversion(
            "cv_1",
            event_name="Purchase",
            click_ids={"ttclid": "E.C.P.CaseSensitive"},
            value=Decimal("99.90"),
            currency="usd",
        ),
        conversion(
            "cv_2",
            email=None,
            phone_e164=None,
            ip=None,
            user_agent=None,
            page_url=None,
            click_ids={"ttclid": "t2"},
        ),
    ]
    outcomes = send(api.url, batch, {**SETTINGS, "test_event_code": "TEST123"})

    assert [(o.key, o.state) for o in outcomes] == [("cv_1", "sent"), ("cv_2", "sent")]
    [request] = api.to(TRACK)
    assert request.method == "POST"
    assert request.headers["access-token"] == "tt-token"
    assert request.json() == {
        "event_source": "web",
        "event_source_id": "CPIXEL123",
        "test_event_code": "TEST123",
        "data": [
            {
                "event": "Purchase",
                "event_time": EVENT_TIME,
                "event_id": "cv_1",
                "user": {
                    "external_id": LEAD_SHA256,
                    "ttclid": "E.C.P.CaseSensitive",
                    "email": EMAIL_SHA256,
                    "phone": PHONE_PLUS_SHA256,
                    "ip": "203.0.113.7",
                    "user_agent": "Mozilla/5.0",
                },
                "page": {"url": "https://example.com/contact"},
                "properties": {"value": 99.9, "currency": "USD"},
            },
            {
                "event": "Lead",
                "event_time": EVENT_TIME,
                "event_id": "cv_2",
                "user": {"external_id": LEAD_SHA256, "ttclid": "t2"},
            },
        ],
    }


def test_an_error_code_in_a_200_body_fails_the_batch(api: FakeApi) -> None:
    refused = {"code": 40002, "message": "event_source_id: pixel not found", "data": {}}
    api.reply(TRACK, Reply(200, refused))
    outcomes = send(api.url, [conversion("cv_1"), conversion("cv_2")])
    assert [(o.key, o.state, o.code, o.message, o.retry) for o in outcomes] == [
        ("cv_1", "failed", "40002", "event_source_id: pixel not found", False),
        ("cv_2", "failed", "40002", "event_source_id: pixel not found", False),
    ]


def test_rate_limits_are_retried(api: FakeApi) -> None:
    slow_down = {"code": 40100, "message": "Too many requests"}
    api.reply(TRACK, Reply(429, slow_down, {"Retry-After": "12"}))
    [outcome] = send(api.url, [conversion()])
    assert (outcome.code, outcome.retry, outcome.retry_after) == ("40100", True, 12.0)
    api.reply(TRACK, Reply(200, slow_down))
    [outcome] = send(api.url, [conversion()])
    assert (outcome.code, outcome.retry) == ("40100", True)


def test_server_and_network_errors_are_retried(api: FakeApi) -> None:
    api.reply(TRACK, Reply(500, None))
    [outcome] = send(api.url, [conversion()])
    assert (outcome.code, outcome.retry) == ("http_500", True)
    [outcome] = send(nowhere(), [conversion()])
    assert (outcome.key, outcome.code, outcome.retry) == ("cv_1", "network", True)


def test_connection_checks_the_pixel(api: FakeApi) -> None:
    pixels = {"pixels": [{"pixel_code": "CPIXEL123", "pixel_name": "Site"}]}
    api.reply("/pixel/list/", Reply(200, {"code": 0, "message": "OK", "data": pixels}))
    said = connect(api.url)
    assert "7000000001" in said
    assert "CPIXEL123" in said
    [request] = api.to("/pixel/list/")
    assert request.method == "GET"
    assert request.query == {"advertiser_id": ["7000000001"], "code": ["CPIXEL123"]}
    assert request.headers["access-token"] == "tt-token"


def test_connection_refused(api: FakeApi) -> None:
    revoked = {"code": 40105, "message": "Access token is incorrect or has been revoked."}
    api.reply("/pixel/list/", Reply(200, revoked))
    with pytest.raises(SettingsRefused) as refused:
        connect(api.url)
    assert refused.value.field_name == "access_token"
    assert "40105" in refused.value.message
    assert "revoked" in refused.value.message
    api.reply("/pixel/list/", Reply(200, {"code": 0, "message": "OK", "data": {"pixels": []}}))
    with pytest.raises(SettingsRefused) as unknown:
        connect(api.url)
    assert unknown.value.field_name == "event_source_id"
