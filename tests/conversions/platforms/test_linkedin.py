"""LinkedIn Conversions API against a local server speaking Rest.li: POST /conversionEvents
as BATCH_CREATE, one status per element."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from leadline.conversions.platforms.base import Conversion, Outcome, SettingsRefused
from leadline.conversions.platforms.linkedin import PLATFORM
from leadline.conversions.platforms.registry import adapter
from tests.conversions.platforms.fake_api import (
    EMAIL_SHA256,
    NOW,
    FakeApi,
    Reply,
    conversion,
    destination,
    fake_api,
    nowhere,
    run,
)

EVENTS = "/conversionEvents"
SETTINGS: dict[str, Any] = {
    "ad_account_id": "512345678",
    "conversions": {"qualified_lead": "104001", "purchase": "urn:lla:llaPartnerConversion:104002"},
    "api_version": "202609",
}
CREDENTIALS = {"access_token": "li-token"}
# 2026-12-07T08:00:00Z in milliseconds, when conversion() happened.
HAPPENED_AT = 1796630400000


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with fake_api() as api:
        yield api


def send(api_url: str, batch: list[Conversion]) -> list[Outcome]:
    where = destination("linkedin", api_url, SETTINGS, CREDENTIALS)
    return run(lambda c: PLATFORM.send(c, where, batch))


def connect(api_url: str) -> str:
    where = destination("linkedin", api_url, SETTINGS, CREDENTIALS)
    return run(lambda c: PLATFORM.test_connection(c, where))


def test_the_registry_finds_it() -> None:
    assert adapter("linkedin") is PLATFORM
    assert PLATFORM.click_fields == ("li_fat_id",)
    assert PLATFORM.max_event_age == timedelta(days=90)


def test_check_names_the_field() -> None:
    PLATFORM.check(SETTINGS, CREDENTIALS)
    with pytest.raises(SettingsRefused) as rules:
        PLATFORM.check({**SETTINGS, "conversions": {"qualified_lead": "Qualified"}}, CREDENTIALS)
    assert rules.value.field_name == "conversions"
    assert "qualified_lead" in rules.value.message
    with pytest.raises(SettingsRefused) as version:
        PLATFORM.check({**SETTINGS, "api_version": "2.0"}, CREDENTIALS)
    assert version.value.field_name == "api_version"
    with pytest.raises(SettingsRefused) as account:
        PLATFORM.check({**SETTINGS, "ad_account_id": "urn:li:sponsoredAccount:1"}, CREDENTIALS)
    assert account.value.field_name == "ad_account_id"


def test_blockers() -> None:
    assert PLATFORM.blockers(conversion(click_ids={"li_fat_id": "u"}), NOW) == []
    bare = conversion(email=None, first_name=None)
    assert PLATFORM.blockers(bare, NOW) == ["no_click_id_or_contact"]
    old = conversion(occurred_at=NOW - timedelta(days=91))
    assert PLATFORM.blockers(old, NOW) == ["event_too_old"]


def test_batch_create_shape_and_per_element_statuses(api: FakeApi) -> None:
    api.reply(
        EVENTS,
        Reply(
            200,
            {
                "elements": [
                    {"status": 201},
                    {
                        "status": 400,
                        "error": {
                            "status": 400,
                            "code": "INVALID_CONVERSION",
                            "message": "Conversion rule is not active",
                        },
                    },
                ]
            },
        ),
    )
    batch = [
        conversion(
            "cv_1",
            event_name="purchase",
            click_ids={"li_fat_id": "3f0c-Case-Kept"},
            value=Decimal("1250.50"),
            currency="eur",
        ),
        conversion("cv_2", event_name="104003", email=None, country=None),
        conversion("cv_3", event_name="No such rule"),
    ]
    outcomes = send(api.url, batch)

    assert [(o.key, o.state, o.code, o.retry) for o in outcomes] == [
        ("cv_1", "sent", None, False),
        ("cv_2", "failed", "INVALID_CONVERSION", False),
        ("cv_3", "failed", "unknown_conversion", False),
    ]
    assert outcomes[1].message == "Conversion rule is not active"
    [request] = api.to(EVENTS)
    assert request.method == "POST"
    assert request.headers["authorization"] == "Bearer li-token"
    assert request.headers["linkedin-version"] == "202609"
    assert request.headers["x-restli-protocol-version"] == "2.0.0"
    assert request.headers["x-restli-method"] == "BATCH_CREATE"
    assert request.json() == {
        "elements": [
            {
                "conversion": "urn:lla:llaPartnerConversion:104002",
                "conversionHappenedAt": HAPPENED_AT,
                "user": {
                    "userIds": [
                        {"idType": "SHA256_EMAIL", "idValue": EMAIL_SHA256},
                        {
                            "idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID",
                            "idValue": "3f0c-Case-Kept",
                        },
                    ],
                    "userInfo": {"firstName": "John", "lastName": "Doe", "countryCode": "US"},
                },
                "eventId": "cv_1",
                "conversionValue": {"currencyCode": "EUR", "amount": "1250.50"},
            },
            {
                "conversion": "urn:lla:llaPartnerConversion:104003",
                "conversionHappenedAt": HAPPENED_AT,
                "user": {"userIds": [], "userInfo": {"firstName": "John", "lastName": "Doe"}},
                "eventId": "cv_2",
            },
        ]
    }


def test_rate_limit_retries_after_the_header(api: FakeApi) -> None:
    throttled = {"status": 429, "code": "TOO_MANY_REQUESTS", "message": "Resource level throttle"}
    api.reply(EVENTS, Reply(429, throttled, {"Retry-After": "60"}))
    outcomes = send(api.url, [conversion("cv_1", event_name="purchase"), conversion("cv_2")])
    assert [(o.key, o.code, o.retry, o.retry_after) for o in outcomes] == [
        ("cv_1", "TOO_MANY_REQUESTS", True, 60.0),
        ("cv_2", "unknown_conversion", False, None),
    ]


def test_an_error_body_fails_the_request_with_its_code(api: FakeApi) -> None:
    denied = {
        "status": 403,
        "serviceErrorCode": 100,
        "code": "ACCESS_DENIED",
        "message": "Not enough permissions",
    }
    api.reply(EVENTS, Reply(403, denied))
    [outcome] = send(api.url, [conversion(event_name="qualified_lead")])
    assert (outcome.state, outcome.code, outcome.message, outcome.retry) == (
        "failed",
        "ACCESS_DENIED",
        "Not enough permissions",
        False,
    )


def test_server_and_network_errors_are_retried(api: FakeApi) -> None:
    api.reply(EVENTS, Reply(502, None))
    [outcome] = send(api.url, [conversion(event_name="qualified_lead")])
    assert (outcome.code, outcome.retry) == ("http_502", True)
    [outcome] = send(nowhere(), [conversion(event_name="qualified_lead")])
    assert (outcome.code, outcome.retry) == ("network", True)


def test_connection_reads_the_ad_account(api: FakeApi) -> None:
    api.reply("/adAccounts/512345678", Reply(200, {"id": 512345678, "name": "Acme Ads"}))
    said = connect(api.url)
    assert "512345678" in said
    assert "Acme Ads" in said
    [request] = api.to("/adAccounts/512345678")
    assert request.method == "GET"
    assert request.headers["linkedin-version"] == "202609"
    assert request.headers["authorization"] == "Bearer li-token"


def test_connection_refused(api: FakeApi) -> None:
    expired = {
        "status": 401,
        "serviceErrorCode": 65601,
        "code": "REVOKED_ACCESS_TOKEN",
        "message": "The token used in the request has been revoked by the user",
    }
    api.reply("/adAccounts/512345678", Reply(401, expired))
    with pytest.raises(SettingsRefused) as refused:
        connect(api.url)
    assert refused.value.field_name == "access_token"
    assert "REVOKED_ACCESS_TOKEN" in refused.value.message
