"""The Google Ads adapter against a local server speaking the Google Ads API's REST wire
format (OAuth token endpoint, ``customers/{id}:uploadClickConversions``, ``googleAds:search``)."""

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
from leadline.conversions.platforms.google import PLATFORM, conversion_date_time
from leadline.conversions.platforms.normalise import sha256_hex
from tests.conversions.platforms.fake_api import FakeApi, fake_api
from tests.fixtures.server import free_port

UPLOAD = "/v26/customers/1234567890:uploadClickConversions"
SEARCH = "/v26/customers/1234567890/googleAds:search"
FAILURE_TYPE = "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure"
WHEN = datetime(2026, 12, 1, 13, 5, 9, tzinfo=UTC)

SETTINGS: dict[str, Any] = {
    "customer_id": "123-456-7890",
    "login_customer_id": "111-222-3333",
    "conversion_actions": {
        "qualified_lead": "555",
        "purchase": "customers/1234567890/conversionActions/777",
    },
}
CREDENTIALS = {
    "developer_token": "dev-token",
    "client_id": "client-1",
    "client_secret": "secret-1",
    "refresh_token": "refresh-1",
}


def destination(url: str, **settings: Any) -> Destination:
    return Destination(
        id="dest-1",
        platform="google",
        settings={**SETTINGS, **settings},
        credentials=CREDENTIALS,
        base_url=url,
    )


def conversion(key: str, **fields: Any) -> Conversion:
    values: dict[str, Any] = {
        "key": key,
        "lead_id": f"lead-{key}",
        "event_name": "qualified_lead",
        "occurred_at": WHEN,
        "consent": {"ad_user_data": True, "ad_personalization": False},
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
def google() -> Iterator[FakeApi]:
    with fake_api() as fake:
        fake.always(
            "/token",
            200,
            {"access_token": "ya29.token", "expires_in": 3599, "token_type": "Bearer"},
        )
        yield fake


def failure(index: int, kind: str, code: str, message: str) -> dict[str, Any]:
    return {
        "errorCode": {kind: code},
        "message": message,
        "location": {
            "fieldPathElements": [
                {"fieldName": "conversions", "index": index},
                {"fieldName": "gclid"},
            ]
        },
    }


def test_registry_finds_google() -> None:
    assert registry.adapter("google") is PLATFORM
    assert PLATFORM.max_batch == 2000
    assert PLATFORM.click_window == timedelta(days=90)
    assert PLATFORM.required_consent == ("ad_user_data",)


def test_upload_shape_auth_and_partial_failure(google: FakeApi) -> None:
    google.answer(
        UPLOAD,
        200,
        {
            "partialFailureError": {
                "code": 3,
                "message": "The click could not be found.",
                "details": [
                    {
                        "@type": FAILURE_TYPE,
                        "errors": [
                            failure(1, "conversionUploadError", "CLICK_NOT_FOUND", "No click."),
                            failure(
                                3,
                                "conversionUploadError",
                                "ORDER_ID_ALREADY_IN_USE",
                                "Dup.",
                            ),
                        ],
                        "requestId": "req-1",
                    }
                ],
            },
            "results": [
                {"gclid": "Cj0-A", "conversionAction": "x"},
                {},
                {"conversionAction": "x"},
                {},
            ],
            "jobId": "42",
        },
    )
    batch = [
        conversion(
            "k1",
            click_ids={"gclid": "Cj0-A", "gbraid": "ignored", "fbc": "other"},
            email=" Jane.Doe@Gmail.com ",
            phone_e164="+1 800 5550102",
            value=Decimal("250.50"),
            currency="eur",
            event_name="purchase",
        ),
        conversion("k2", click_ids={"gbraid": "GB-1", "wbraid": "WB-1"}, email="a@b.com"),
        conversion("k3", email="x.y@example.com", phone_e164="+4930123456", consent={}),
        conversion("k4", click_ids={"wbraid": "WB-2"}),
    ]
    outcomes = send(destination(google.url), batch)

    assert [(o.key, o.state, o.code, o.retry) for o in outcomes] == [
        ("k1", "sent", None, False),
        ("k2", "failed", "CLICK_NOT_FOUND", False),
        ("k3", "sent", None, False),
        ("k4", "sent", "ORDER_ID_ALREADY_IN_USE", False),
    ]
    assert outcomes[1].message == "No click."

    (token,) = google.to("/token")
    assert token.method == "POST"
    assert token.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token.form() == {
        "grant_type": ["refresh_token"],
        "client_id": ["client-1"],
        "client_secret": ["secret-1"],
        "refresh_token": ["refresh-1"],
    }
    (upload,) = google.to(UPLOAD)
    assert upload.method == "POST"
    assert upload.headers["authorization"] == "Bearer ya29.token"
    assert upload.headers["developer-token"] == "dev-token"
    assert upload.headers["login-customer-id"] == "1112223333"
    body = upload.json()
    assert body["partialFailure"] is True
    first, second, third, fourth = body["conversions"]
    assert first == {
        "conversionAction": "customers/1234567890/conversionActions/777",
        "conversionDateTime": "2026-12-01 13:05:09+00:00",
        "orderId": "k1",
        "gclid": "Cj0-A",
        "userIdentifiers": [
            {"hashedEmail": sha256_hex("janedoe@gmail.com")},
            {"hashedPhoneNumber": sha256_hex("+18005550102")},
        ],
        "conversionValue": 250.5,
        "currencyCode": "EUR",
        "consent": {"adUserData": "GRANTED", "adPersonalization": "DENIED"},
    }
    # Exactly one click ID: gbraid before wbraid; no user data with a braid.
    assert second["gbraid"] == "GB-1"
    assert "wbraid" not in second
    assert "gclid" not in second
    assert "userIdentifiers" not in second
    assert second["conversionAction"] == "customers/1234567890/conversionActions/555"
    # No click at all: an enhanced conversion for leads, on hashed identifiers only.
    assert not {"gclid", "gbraid", "wbraid"} & third.keys()
    assert third["userIdentifiers"] == [
        {"hashedEmail": sha256_hex("x.y@example.com")},
        {"hashedPhoneNumber": sha256_hex("+4930123456")},
    ]
    assert "consent" not in third
    assert "conversionValue" not in third
    assert fourth["wbraid"] == "WB-2"


def test_access_token_is_reused(google: FakeApi) -> None:
    google.always(UPLOAD, 200, {"results": [{}]})
    dest = destination(google.url, login_customer_id=None)
    send(dest, [conversion("a", click_ids={"gclid": "G"})])
    send(dest, [conversion("b", click_ids={"gclid": "G"})])
    assert len(google.to("/token")) == 1
    assert len(google.to(UPLOAD)) == 2
    assert "login-customer-id" not in google.to(UPLOAD)[0].headers


def test_email_rule_setting(google: FakeApi) -> None:
    google.always(UPLOAD, 200, {"results": [{}]})
    send(
        destination(google.url, email_rule="all_domains", time_zone="America/New_York"),
        [conversion("a", email="alex.2+x@example.com")],
    )
    sent = google.to(UPLOAD)[0].json()["conversions"][0]
    assert sent["userIdentifiers"] == [{"hashedEmail": sha256_hex("alex2x@example.com")}]
    assert sent["conversionDateTime"] == "2026-12-01 08:05:09-05:00"


def test_rate_limit_is_retried_with_googles_delay(google: FakeApi) -> None:
    google.answer(
        UPLOAD,
        429,
        {
            "error": {
                "code": 429,
                "message": "Resource has been exhausted (e.g. check quota).",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {
                        "@type": FAILURE_TYPE,
                        "errors": [
                            {
                                "errorCode": {"quotaError": "RESOURCE_EXHAUSTED"},
                                "message": "Too many requests.",
                                "details": {
                                    "quotaErrorDetails": {
                                        "rateScope": "DEVELOPER",
                                        "retryDelay": "30s",
                                    }
                                },
                            }
                        ],
                        "requestId": "r",
                    }
                ],
            }
        },
    )
    outcomes = send(
        destination(google.url), [conversion("a", click_ids={"gclid": "G"}), conversion("b")]
    )
    assert all(o.state == "failed" and o.retry for o in outcomes)
    assert [o.code for o in outcomes] == ["RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED"]
    assert [o.retry_after for o in outcomes] == [30.0, 30.0]


def test_retry_after_header_without_details(google: FakeApi) -> None:
    google.answer(
        UPLOAD,
        429,
        {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "slow down"}},
        **{"Retry-After": "12"},
    )
    (outcome,) = send(destination(google.url), [conversion("a", click_ids={"gclid": "G"})])
    assert (outcome.retry, outcome.retry_after, outcome.code) == (True, 12.0, "RESOURCE_EXHAUSTED")


def test_server_error_is_retried(google: FakeApi) -> None:
    google.answer(
        UPLOAD,
        503,
        {"error": {"code": 503, "message": "The service is unavailable.", "status": "UNAVAILABLE"}},
    )
    (outcome,) = send(destination(google.url), [conversion("a", click_ids={"gclid": "G"})])
    assert (outcome.state, outcome.code, outcome.retry) == ("failed", "UNAVAILABLE", True)


def test_bad_request_fails_with_googles_code(google: FakeApi) -> None:
    google.answer(
        UPLOAD,
        403,
        {
            "error": {
                "code": 403,
                "message": "The caller does not have permission",
                "status": "PERMISSION_DENIED",
                "details": [
                    {
                        "@type": FAILURE_TYPE,
                        "errors": [
                            {
                                "errorCode": {"authorizationError": "USER_PERMISSION_DENIED"},
                                "message": "User doesn't have permission to access customer.",
                            }
                        ],
                    }
                ],
            }
        },
    )
    outcomes = send(
        destination(google.url),
        [conversion("a", click_ids={"gclid": "G"}), conversion("b", email="e@x.io")],
    )
    assert [(o.state, o.code, o.retry) for o in outcomes] == [
        ("failed", "USER_PERMISSION_DENIED", False)
    ] * 2
    assert outcomes[0].message == "User doesn't have permission to access customer."


def test_too_recent_click_is_retried_after_six_hours(google: FakeApi) -> None:
    google.answer(
        UPLOAD,
        200,
        {
            "partialFailureError": {
                "code": 3,
                "message": "x",
                "details": [
                    {
                        "@type": FAILURE_TYPE,
                        "errors": [
                            failure(0, "conversionUploadError", "TOO_RECENT_EVENT", "Too recent.")
                        ],
                    }
                ],
            },
            "results": [{}],
        },
    )
    (outcome,) = send(destination(google.url), [conversion("a", click_ids={"gclid": "G"})])
    assert (outcome.state, outcome.code, outcome.retry, outcome.retry_after) == (
        "failed",
        "TOO_RECENT_EVENT",
        True,
        6 * 3600.0,
    )


def test_refused_refresh_token(google: FakeApi) -> None:
    google.answer(
        "/token",
        400,
        {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    )
    dest = destination(google.url, token_url=f"{google.url}/token", api_version="v26")
    (outcome,) = send(dest, [conversion("a", click_ids={"gclid": "G"})])
    assert (outcome.state, outcome.code, outcome.retry) == ("failed", "invalid_grant", False)
    assert outcome.message == "Token has been expired or revoked."
    assert google.to(UPLOAD) == []


def test_network_error_is_a_retry_outcome() -> None:
    dest = destination(f"http://127.0.0.1:{free_port()}")
    outcomes = send(
        dest, [conversion("a", click_ids={"gclid": "G"}), conversion("b", email="e@x.io")]
    )
    assert [(o.state, o.code, o.retry) for o in outcomes] == [("failed", "network_error", True)] * 2


def test_event_without_conversion_action_is_not_sent(google: FakeApi) -> None:
    google.always(UPLOAD, 200, {"results": [{}]})
    outcomes = send(
        destination(google.url),
        [
            conversion("a", event_name="mystery", click_ids={"gclid": "G"}),
            conversion("b", click_ids={"gclid": "H"}),
        ],
    )
    assert [(o.key, o.state, o.code) for o in outcomes] == [
        ("a", "failed", "no_conversion_action"),
        ("b", "sent", None),
    ]
    assert len(google.to(UPLOAD)[0].json()["conversions"]) == 1


def test_connection_happy(google: FakeApi) -> None:
    google.answer(
        SEARCH,
        200,
        {
            "results": [
                {
                    "conversionAction": {
                        "resourceName": "customers/1234567890/conversionActions/555",
                        "name": "Qualified",
                    }
                },
                {
                    "conversionAction": {
                        "resourceName": "customers/1234567890/conversionActions/777",
                        "name": "Won",
                    }
                },
            ],
            "fieldMask": "conversionAction.resourceName,conversionAction.name",
        },
    )
    sentence = connect(destination(google.url))
    assert "1234567890" in sentence
    (search,) = google.to(SEARCH)
    assert search.headers["developer-token"] == "dev-token"
    assert "FROM conversion_action" in search.json()["query"]


def test_connection_refused_when_an_action_is_missing(google: FakeApi) -> None:
    google.answer(
        SEARCH,
        200,
        {
            "results": [
                {"conversionAction": {"resourceName": "customers/1234567890/conversionActions/555"}}
            ]
        },
    )
    with pytest.raises(SettingsRefused) as refused:
        connect(destination(google.url))
    assert refused.value.field_name == "conversion_actions"
    assert "purchase" in refused.value.message


def test_connection_refused_by_google(google: FakeApi) -> None:
    google.answer(
        SEARCH,
        401,
        {
            "error": {
                "code": 401,
                "message": "Request is missing required authentication credential.",
                "status": "UNAUTHENTICATED",
                "details": [
                    {
                        "@type": FAILURE_TYPE,
                        "errors": [
                            {
                                "errorCode": {
                                    "authenticationError": "DEVELOPER_TOKEN_NOT_APPROVED"
                                },
                                "message": "The developer token is not approved.",
                            }
                        ],
                    }
                ],
            }
        },
    )
    with pytest.raises(SettingsRefused) as refused:
        connect(destination(google.url))
    assert refused.value.field_name == "developer_token"
    assert "DEVELOPER_TOKEN_NOT_APPROVED" in refused.value.message


def test_connection_refused_token(google: FakeApi) -> None:
    google.answer(
        "/token",
        401,
        {"error": "invalid_client", "error_description": "The OAuth client was not found."},
    )
    with pytest.raises(SettingsRefused) as refused:
        connect(destination(google.url, login_customer_id=""))
    assert refused.value.field_name == "refresh_token"


@pytest.mark.parametrize(
    ("settings", "field_name"),
    [
        ({"customer_id": "123"}, "customer_id"),
        ({"customer_id": "abc-def-ghij"}, "customer_id"),
        ({"login_customer_id": "12"}, "login_customer_id"),
        ({"conversion_actions": {}}, "conversion_actions"),
        (
            {"conversion_actions": {"purchase": "customers/1234567890/conversionActions/x"}},
            "conversion_actions",
        ),
        ({"conversion_actions": {"purchase": "nope"}}, "conversion_actions"),
        ({"email_rule": "sometimes"}, "email_rule"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": "Europe"}, "time_zone"),
    ],
)
def test_check_refuses(settings: dict[str, Any], field_name: str) -> None:
    with pytest.raises(SettingsRefused) as refused:
        PLATFORM.check({**SETTINGS, **settings}, CREDENTIALS)
    assert refused.value.field_name == field_name


def test_check_needs_every_credential() -> None:
    PLATFORM.check(SETTINGS, CREDENTIALS)
    with pytest.raises(SettingsRefused) as refused:
        PLATFORM.check(SETTINGS, {**CREDENTIALS, "refresh_token": " "})
    assert refused.value.field_name == "refresh_token"


def test_blockers() -> None:
    now = WHEN + timedelta(days=200)
    assert PLATFORM.blockers(conversion("a", click_ids={"wbraid": "W"}), now) == []
    assert PLATFORM.blockers(conversion("a", email="e@x.io"), now) == []
    assert PLATFORM.blockers(conversion("a", phone_e164="+4930123456"), now) == []
    assert PLATFORM.blockers(conversion("a", click_ids={"fbc": "fb.1.2.3"}), now) == [
        "missing_user_data"
    ]


def test_conversion_date_time_format() -> None:
    assert (
        conversion_date_time(datetime(2019, 1, 1, 20, 32, 45, tzinfo=UTC), "America/Los_Angeles")
        == "2019-01-01 12:32:45-08:00"
    )
    assert conversion_date_time(datetime(2026, 7, 1, 10, 0, 0)) == "2026-07-01 10:00:00+00:00"
    assert (
        conversion_date_time(datetime(2026, 7, 1, 10, 0, 0, tzinfo=UTC), "Asia/Kolkata")
        == "2026-07-01 15:30:00+05:30"
    )


def test_revoked_access_token_is_refreshed_once(google: FakeApi) -> None:
    unauthenticated = {
        "error": {
            "code": 401,
            "message": "Request had invalid authentication credentials.",
            "status": "UNAUTHENTICATED",
        }
    }
    google.answer(UPLOAD, 401, unauthenticated)
    google.answer(UPLOAD, 200, {"results": [{}]})
    (outcome,) = send(destination(google.url), [conversion("a", click_ids={"gclid": "G"})])
    assert outcome.state == "sent"
    assert len(google.to("/token")) == 2
    # Refused again with a fresh token: the credentials are wrong, not the token's age.
    google.always(UPLOAD, 401, unauthenticated)
    (outcome,) = send(destination(google.url), [conversion("b", click_ids={"gclid": "G"})])
    assert (outcome.state, outcome.code, outcome.retry) == ("failed", "UNAUTHENTICATED", False)
    # The kept token, then one fresh token, then no more.
    assert len(google.to("/token")) == 3
    assert len(google.to(UPLOAD)) == 4


def test_manager_conversion_action_is_taken_by_its_id(google: FakeApi) -> None:
    # Cross-account conversion tracking: the action belongs to the manager account.
    google.always(UPLOAD, 200, {"results": [{}]})
    manager_action = "customers/1112223333/conversionActions/555"
    dest = destination(google.url, conversion_actions={"qualified_lead": manager_action})
    PLATFORM.check(dest.settings, dest.credentials)
    send(dest, [conversion("a", click_ids={"gclid": "G"})])
    sent = google.to(UPLOAD)[0].json()["conversions"][0]
    assert sent["conversionAction"] == manager_action
    google.answer(
        SEARCH,
        200,
        {
            "results": [
                {"conversionAction": {"resourceName": "customers/1234567890/conversionActions/555"}}
            ]
        },
    )
    assert "1 conversion action" in connect(dest)


TERMS = "CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS"


def test_failed_row_without_a_location_is_not_taken_for_sent(google: FakeApi) -> None:
    google.answer(
        UPLOAD,
        200,
        {
            "partialFailureError": {
                "code": 3,
                "message": "Customer data terms not accepted.",
                "details": [
                    {
                        "@type": FAILURE_TYPE,
                        "errors": [
                            {
                                "errorCode": {"conversionUploadError": TERMS},
                                "message": "Accept the customer data terms.",
                            }
                        ],
                    }
                ],
            },
            "results": [{"gclid": "G", "conversionAction": "x"}, {}],
        },
    )
    outcomes = send(
        destination(google.url),
        [conversion("a", click_ids={"gclid": "G"}), conversion("b", email="e@x.io")],
    )
    assert [(o.key, o.state, o.code) for o in outcomes] == [
        ("a", "sent", None),
        ("b", "failed", TERMS),
    ]
