"""The platforms' official libraries as references (docs/adr/0012): every request body the
Google adapter builds must parse into google-ads' own ``UploadClickConversionsRequest``
(unknown fields refused), and our Meta normalisation must hash as Meta's SDK does where the
SDK and Meta's documentation agree."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from facebook_business.adobjects.serverside.action_source import ActionSource
from facebook_business.adobjects.serverside.custom_data import CustomData
from facebook_business.adobjects.serverside.event import Event
from facebook_business.adobjects.serverside.normalize import Normalize
from facebook_business.adobjects.serverside.user_data import UserData
from google.ads.googleads.v26.enums.types.consent_status import ConsentStatusEnum
from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure
from google.ads.googleads.v26.services.types.conversion_upload_service import (
    UploadClickConversionsRequest,
    UploadClickConversionsResponse,
)

from leadline.conversions.platforms.base import Conversion
from leadline.conversions.platforms.google import (
    API_VERSION,
    PLATFORM,
    google_error,
    row_failures,
)
from leadline.conversions.platforms.meta import PLATFORM as META
from leadline.conversions.platforms.normalise import (
    meta_email,
    meta_hashed,
    meta_name,
    meta_phone,
)

SETTINGS: dict[str, Any] = {
    "customer_id": "1234567890",
    "conversion_actions": {"qualified_lead": "555"},
}


def conversion(key: str, **fields: Any) -> Conversion:
    values: dict[str, Any] = {
        "key": key,
        "lead_id": key,
        "event_name": "qualified_lead",
        "occurred_at": datetime(2026, 12, 1, 13, 5, 9, tzinfo=UTC),
    }
    values.update(fields)
    return Conversion(**values)


def test_api_version_is_in_the_library() -> None:
    assert API_VERSION == "v26"


def test_google_bodies_parse_into_the_official_request() -> None:
    batch = [
        conversion(
            "a",
            click_ids={"gclid": "Cj0-A"},
            email="Jane.Doe@gmail.com",
            phone_e164="+18005550102",
            value=Decimal("12.5"),
            currency="EUR",
            consent={"ad_user_data": True, "ad_personalization": False},
        ),
        conversion("b", click_ids={"gbraid": "GB"}, consent={"ad_user_data": True}),
        conversion("c", click_ids={"wbraid": "WB"}),
        conversion("d", email="x@example.com"),
    ]
    body = {
        "customerId": "1234567890",
        "conversions": [PLATFORM.click_conversion(c, SETTINGS) for c in batch],
        "partialFailure": True,
    }
    request = UploadClickConversionsRequest.from_json(json.dumps(body), ignore_unknown_fields=False)
    first, second, third, fourth = request.conversions
    assert request.partial_failure is True
    assert first.gclid == "Cj0-A"
    assert first.order_id == "a"
    assert first.conversion_action == "customers/1234567890/conversionActions/555"
    assert first.conversion_date_time == "2026-12-01 13:05:09+00:00"
    assert first.conversion_value == 12.5
    assert first.currency_code == "EUR"
    assert len(first.user_identifiers) == 2
    assert first.user_identifiers[0].hashed_email
    assert first.user_identifiers[1].hashed_phone_number
    assert first.consent.ad_user_data == ConsentStatusEnum.ConsentStatus.GRANTED
    assert first.consent.ad_personalization == ConsentStatusEnum.ConsentStatus.DENIED
    assert (second.gbraid, second.gclid, second.wbraid) == ("GB", "", "")
    assert third.wbraid == "WB"
    assert fourth.user_identifiers[0].hashed_email


def test_partial_failure_answer_as_the_library_reads_it() -> None:
    # The answer shape the local server in test_google.py gives, read by the library too.
    answer = {
        "partialFailureError": {
            "code": 3,
            "message": "No click.",
            "details": [
                {
                    "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                    "errors": [
                        {
                            "errorCode": {"conversionUploadError": "CLICK_NOT_FOUND"},
                            "message": "No click.",
                            "location": {
                                "fieldPathElements": [
                                    {"fieldName": "conversions", "index": 1},
                                    {"fieldName": "gclid"},
                                ]
                            },
                        }
                    ],
                }
            ],
        },
        "results": [{"gclid": "A"}, {}],
        "jobId": "7",
    }
    response = UploadClickConversionsResponse.from_json(
        json.dumps(answer), ignore_unknown_fields=False
    )
    assert response.partial_failure_error.code == 3
    assert row_failures(answer) == {1: ("CLICK_NOT_FOUND", "No click.")}


@pytest.mark.parametrize(
    ("field", "raw", "ours"),
    [
        ("em", " John_Smith@gmail.com ", meta_email),
        ("em", "A.B+c@Example.COM", meta_email),
        ("ph", "+1 (650)555-1212", meta_phone),
        ("ph", "0044 20 7946 0958", meta_phone),
        ("fn", "Mary", meta_name),
        ("fn", "Valéry", meta_name),
        ("ln", "정", meta_name),
        ("ln", "van der Berg", meta_name),
    ],
)
def test_meta_hashes_as_the_sdk_does(field: str, raw: str, ours: Any) -> None:
    assert meta_hashed(ours(raw)) == Normalize.normalize_field(field, raw)


def test_meta_event_is_the_sdks_event() -> None:
    ours = conversion(
        "k1",
        event_name="Purchase",
        email="John_Smith@gmail.com",
        phone_e164="+1 (650)555-1212",
        first_name="Mary",
        last_name="Smith",
        click_ids={"fbc": "fb.1.1554763741205.AbC", "fbp": "fb.1.1558571054389.1098115397"},
        ip="203.0.113.9",
        user_agent="Mozilla/5.0",
        page_url="https://example.com/contact",
        value=Decimal("99.90"),
        currency="USD",
    )
    sdk = Event(
        event_name="Purchase",
        event_time=int(ours.occurred_at.timestamp()),
        event_id="k1",
        action_source=ActionSource.SYSTEM_GENERATED,
        event_source_url="https://example.com/contact",
        user_data=UserData(
            emails=["John_Smith@gmail.com"],
            phones=["+1 (650)555-1212"],
            first_names=["Mary"],
            last_names=["Smith"],
            fbc="fb.1.1554763741205.AbC",
            fbp="fb.1.1558571054389.1098115397",
            client_ip_address="203.0.113.9",
            client_user_agent="Mozilla/5.0",
        ),
        custom_data=CustomData(value=99.9, currency="USD"),
    ).normalize()
    event = META.server_event(ours, {})
    # The SDK lowercases the currency code; Meta takes ISO 4217 codes in either case.
    assert event["custom_data"]["currency"] == sdk["custom_data"]["currency"].upper()
    sdk["custom_data"]["currency"] = event["custom_data"]["currency"]
    assert event == sdk


def test_quota_failure_as_the_library_reads_it() -> None:
    # The rate-limit answer the local server in test_google.py gives: its GoogleAdsFailure
    # parses into the library's message, and we read the same code and delay from it.
    failure = {
        "errors": [
            {
                "errorCode": {"quotaError": "RESOURCE_EXHAUSTED"},
                "message": "Too many requests.",
                "details": {"quotaErrorDetails": {"rateScope": "DEVELOPER", "retryDelay": "30s"}},
            }
        ],
        "requestId": "r",
    }
    parsed = GoogleAdsFailure.from_json(json.dumps(failure), ignore_unknown_fields=False)
    assert parsed.errors[0].details.quota_error_details.retry_delay.seconds == 30
    answer = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "Resource has been exhausted",
            "details": [
                {
                    "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                    **failure,
                }
            ],
        }
    }
    assert google_error(answer, httpx.Response(429)) == (
        "RESOURCE_EXHAUSTED",
        "Too many requests.",
        30.0,
    )
