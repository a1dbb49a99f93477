"""Normalising and hashing shared by the Microsoft, TikTok, LinkedIn, Reddit and Snapchat
adapters, and reading Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest

from leadline.conversions.platforms import _replies, _wire, normalise
from tests.conversions.platforms.fake_api import (
    EMAIL_SHA256,
    PHONE_DIGITS_SHA256,
    PHONE_PLUS_SHA256,
)


def test_email_is_trimmed_and_lowercased_and_nothing_else() -> None:
    # TikTok, LinkedIn, Reddit and Snapchat all ask for trim + lowercase before SHA-256;
    # none removes dots or "+tags" (that is Google's gmail rule, not theirs).
    assert normalise.normal_email("  John.Doe@Example.COM ") == "john.doe@example.com"
    assert normalise.normal_email("a.b+tag@gmail.com") == "a.b+tag@gmail.com"
    assert normalise.sha256_hex("john.doe@example.com") == EMAIL_SHA256


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("+16505551234", "16505551234"),
        ("+1 (650) 555-1234", "16505551234"),
        ("0044 20 7946 0958", "442079460958"),
        ("+44 20 7946 0958", "442079460958"),
    ],
)
def test_phone_digits_follow_snapchats_rule(raw: str, digits: str) -> None:
    # Snap: digits only with the country code, no "+", no leading "00" or "0"
    # (developers.snap.com, Conversions API parameters).
    assert normalise.phone_digits(raw) == digits


def test_phone_for_tiktok_keeps_the_plus() -> None:
    # TikTok: the phone number in E.164 ("+" and digits) before SHA-256.
    assert normalise.phone_plus_e164("+1 650 555 1234") == "+16505551234"
    assert normalise.sha256_hex("+16505551234") == PHONE_PLUS_SHA256
    assert normalise.sha256_hex("16505551234") == PHONE_DIGITS_SHA256


def test_an_already_hashed_value_is_not_hashed_twice() -> None:
    assert normalise.hashed(EMAIL_SHA256) == EMAIL_SHA256
    assert normalise.hashed("john.doe@example.com") == EMAIL_SHA256


def test_times_and_money() -> None:
    moment = datetime(2026, 12, 1, 11, 15, 30, 250000, tzinfo=timezone(timedelta(hours=1)))
    assert _wire.iso_utc(moment) == "2026-12-01T10:15:30Z"
    assert _wire.unix_seconds(moment) == 1796120130
    assert _wire.unix_millis(moment) == 1796120130250
    assert _wire.money(Decimal("1250.50")) == "1250.50"
    assert _wire.money(Decimal("1E+3")) == "1000"


def test_retry_after_reads_seconds_and_dates() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/")
    seconds = httpx.Response(429, headers={"Retry-After": "30"}, request=request)
    assert _replies.retry_after(seconds) == 30.0
    later = (datetime.now(UTC) + timedelta(minutes=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    dated = httpx.Response(429, headers={"Retry-After": later}, request=request)
    assert 60 < (_replies.retry_after(dated) or 0) <= 120
    assert _replies.retry_after(httpx.Response(429, request=request)) is None
    garbage = httpx.Response(429, headers={"Retry-After": "soon"}, request=request)
    assert _replies.retry_after(garbage) is None
