"""Microsoft Advertising offline conversions against a local server speaking the Campaign
Management REST format (POST OfflineConversions/Apply, PartialErrors by Index)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from leadline.conversions.platforms.base import SettingsRefused
from leadline.conversions.platforms.microsoft import PLATFORM
from leadline.conversions.platforms.registry import adapter
from tests.conversions.platforms.fake_api import (
    NOW,
    FakeApi,
    Reply,
    conversion,
    destination,
    fake_api,
    nowhere,
    run,
)

APPLY = "/OfflineConversions/Apply"
TOKEN = {"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600}
CREDENTIALS = {"developer_token": "dev-1", "client_id": "client-1", "refresh_token": "rt-1"}


def settings(api_url: str) -> dict[str, Any]:
    return {"customer_id": "111", "account_id": "222", "token_url": api_url + "/token"}


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with fake_api() as api:
        api.reply("/token", Reply(200, TOKEN))
        yield api


def test_the_registry_finds_it() -> None:
    assert adapter("microsoft") is PLATFORM
    assert PLATFORM.click_fields == ("msclkid",)
    assert PLATFORM.max_batch == 1000


def test_check_names_the_missing_or_wrong_field() -> None:
    PLATFORM.check({"customer_id": "1", "account_id": "2"}, CREDENTIALS)
    with pytest.raises(SettingsRefused) as missing:
        PLATFORM.check(
            {"customer_id": "1", "account_id": "2"}, {**CREDENTIALS, "developer_token": ""}
        )
    assert missing.value.field_name == "developer_token"
    with pytest.raises(SettingsRefused) as wrong:
        PLATFORM.check({"customer_id": "C-1", "account_id": "2"}, CREDENTIALS)
    assert wrong.value.field_name == "customer_id"
    with pytest.raises(SettingsRefused) as absent:
        PLATFORM.check({"customer_id": "1"}, CREDENTIALS)
    assert absent.value.field_name == "account_id"


def test_blockers() -> None:
    assert PLATFORM.blockers(conversion(click_ids={"msclkid": "abc"}), NOW) == []
    long_name = conversion(event_name="x" * 101, click_ids={"msclkid": "abc"})
    assert PLATFORM.blockers(long_name, NOW) == ["conversion_name_too_long"]
    later = conversion(occurred_at=NOW + timedelta(hours=1), click_ids={"msclkid": "abc"})
    assert PLATFORM.blockers(later, NOW) == ["event_in_future"]


def test_sends_rows_with_auth_headers_and_reads_partial_errors(api: FakeApi) -> None:
    api.reply(
        APPLY,
        Reply(
            200,
            {
                "PartialErrors": [
                    {
                        "Code": 4806,
                        "ErrorCode": "OfflineConversionMicrosoftClickIdInvalid",
                        "Index": 1,
                        "Message": "The click ID is not valid.",
                        "Type": "BatchError",
                    }
                ]
            },
        ),
    )
    batch = [
        conversion(
            "cv_1",
            event_name="Purchase",
            click_ids={"msclkid": "Ab1"},
            value=Decimal("1250.50"),
            currency="eur",
        ),
        conversion("cv_2", event_name="Qualified lead", click_ids={"msclkid": "bad"}),
    ]
    outcomes = run(
        lambda c: PLATFORM.send(
            c, destination("microsoft", api.url, settings(api.url), CREDENTIALS), batch
        )
    )

    assert [(o.key, o.state, o.code, o.retry) for o in outcomes] == [
        ("cv_1", "sent", None, False),
        ("cv_2", "failed", "OfflineConversionMicrosoftClickIdInvalid", False),
    ]
    assert outcomes[1].message == "The click ID is not valid."
    [token] = api.to("/token")
    assert token.form() == {
        "client_id": ["client-1"],
        "grant_type": ["refresh_token"],
        "refresh_token": ["rt-1"],
        "scope": ["https://ads.microsoft.com/msads.manage offline_access"],
    }
    [upload] = api.to(APPLY)
    assert upload.method == "POST"
    assert upload.headers["authorization"] == "Bearer at-1"
    assert upload.headers["developertoken"] == "dev-1"
    assert upload.headers["customerid"] == "111"
    assert upload.headers["customeraccountid"] == "222"
    assert upload.json() == {
        "OfflineConversions": [
            {
                "ConversionName": "Purchase",
                "ConversionTime": "2026-12-07T08:00:00Z",
                "MicrosoftClickId": "Ab1",
                "ConversionValue": 1250.5,
                "ConversionCurrencyCode": "EUR",
            },
            {
                "ConversionName": "Qualified lead",
                "ConversionTime": "2026-12-07T08:00:00Z",
                "MicrosoftClickId": "bad",
            },
        ]
    }


def test_rate_limit_is_retried_after_what_the_header_says(api: FakeApi) -> None:
    api.reply(
        APPLY,
        Reply(
            429,
            {
                "OperationErrors": [
                    {"Code": 117, "ErrorCode": "CallRateExceeded", "Message": "Slow down"}
                ]
            },
            {"Retry-After": "30"},
        ),
    )
    batch = [
        conversion("cv_1", click_ids={"msclkid": "a"}),
        conversion("cv_2", click_ids={"msclkid": "b"}),
    ]
    outcomes = run(
        lambda c: PLATFORM.send(
            c, destination("microsoft", api.url, settings(api.url), CREDENTIALS), batch
        )
    )
    assert [(o.key, o.state, o.code, o.retry, o.retry_after) for o in outcomes] == [
        ("cv_1", "failed", "CallRateExceeded", True, 30.0),
        ("cv_2", "failed", "CallRateExceeded", True, 30.0),
    ]


def test_a_refused_request_fails_every_row_with_microsofts_code(api: FakeApi) -> None:
    api.reply(
        APPLY,
        Reply(
            400,
            {
                "TrackingId": "t-1",
                "Type": "ApiFaultDetail",
                "OperationErrors": [
                    {
                        "Code": 105,
                        "ErrorCode": "InvalidCredentials",
                        "Message": "Authentication failed.",
                    }
                ],
                "BatchErrors": [],
            },
        ),
    )
    outcomes = run(
        lambda c: PLATFORM.send(
            c,
            destination("microsoft", api.url, settings(api.url), CREDENTIALS),
            [conversion(click_ids={"msclkid": "a"})],
        )
    )
    assert [(o.state, o.code, o.message, o.retry) for o in outcomes] == [
        ("failed", "InvalidCredentials", "Authentication failed.", False)
    ]


def test_batch_errors_fail_their_rows_and_leave_the_others_to_retry(api: FakeApi) -> None:
    api.reply(
        APPLY,
        Reply(
            400,
            {
                "Type": "ApiFaultDetail",
                "BatchErrors": [
                    {
                        "Code": 4803,
                        "ErrorCode": "OfflineConversionNameInvalid",
                        "Index": 0,
                        "Message": "No such goal.",
                    }
                ],
                "OperationErrors": [],
            },
        ),
    )
    batch = [
        conversion("cv_1", click_ids={"msclkid": "a"}),
        conversion("cv_2", click_ids={"msclkid": "b"}),
    ]
    outcomes = run(
        lambda c: PLATFORM.send(
            c, destination("microsoft", api.url, settings(api.url), CREDENTIALS), batch
        )
    )
    assert [(o.key, o.code, o.retry) for o in outcomes] == [
        ("cv_1", "OfflineConversionNameInvalid", False),
        ("cv_2", "batch_refused", True),
    ]


def test_server_errors_are_retried(api: FakeApi) -> None:
    api.reply(APPLY, Reply(503, None))
    [outcome] = run(
        lambda c: PLATFORM.send(
            c,
            destination("microsoft", api.url, settings(api.url), CREDENTIALS),
            [conversion(click_ids={"msclkid": "a"})],
        )
    )
    assert (outcome.state, outcome.code, outcome.retry) == ("failed", "http_503", True)


def test_a_refused_refresh_token_fails_without_uploading(api: FakeApi) -> None:
    api.reply(
        "/token",
        Reply(
            400, {"error": "invalid_grant", "error_description": "The refresh token has expired."}
        ),
    )
    [outcome] = run(
        lambda c: PLATFORM.send(
            c,
            destination("microsoft", api.url, settings(api.url), CREDENTIALS),
            [conversion(click_ids={"msclkid": "a"})],
        )
    )
    assert (outcome.code, outcome.message, outcome.retry) == (
        "invalid_grant",
        "The refresh token has expired.",
        False,
    )
    assert api.to(APPLY) == []


def test_network_errors_are_outcomes_to_retry() -> None:
    gone = nowhere()
    [outcome] = run(
        lambda c: PLATFORM.send(
            c,
            destination("microsoft", gone, settings(gone), CREDENTIALS),
            [conversion(click_ids={"msclkid": "a"})],
        )
    )
    assert (outcome.key, outcome.state, outcome.code, outcome.retry) == (
        "cv_1",
        "failed",
        "network",
        True,
    )


def test_connection_lists_the_offline_goals(api: FakeApi) -> None:
    api.reply(
        "/ConversionGoals/QueryByIds",
        Reply(
            200,
            {
                "ConversionGoals": [{"Name": "Qualified lead", "Type": "OfflineConversion"}],
                "PartialErrors": [],
            },
        ),
    )
    said = run(
        lambda c: PLATFORM.test_connection(
            c, destination("microsoft", api.url, settings(api.url), CREDENTIALS)
        )
    )
    assert "222" in said
    assert "Qualified lead" in said
    [query] = api.to("/ConversionGoals/QueryByIds")
    assert query.json()["ConversionGoalTypes"] == "OfflineConversion"
    assert query.headers["developertoken"] == "dev-1"


def test_connection_refused_says_why(api: FakeApi) -> None:
    api.reply(
        "/ConversionGoals/QueryByIds",
        Reply(
            401,
            {
                "OperationErrors": [
                    {
                        "Code": 106,
                        "ErrorCode": "UserIsNotAuthorized",
                        "Message": "The user does not represent account 222.",
                    }
                ]
            },
        ),
    )
    with pytest.raises(SettingsRefused) as refused:
        run(
            lambda c: PLATFORM.test_connection(
                c, destination("microsoft", api.url, settings(api.url), CREDENTIALS)
            )
        )
    assert "UserIsNotAuthorized" in refused.value.message
    assert "does not represent account 222" in refused.value.message
