"""What the Microsoft, TikTok, LinkedIn, Reddit and Snapchat adapters share: normalising and
hashing personal data as each documents it, and reading an HTTP answer into outcomes (rate
limits and server errors are worth a retry, other refusals are not)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from leadline.conversions.platforms.base import Conversion, Outcome, SettingsRefused

# How long one request may take before it counts as a network failure (seconds).
TIMEOUT = 30.0

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(text: str) -> str:
    """The lowercase hex SHA-256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normal_email(email: str) -> str:
    """An email as TikTok, LinkedIn, Reddit and Snapchat ask for it before hashing: spaces
    around it removed, lowercased; nothing else changed (none of them removes dots)."""
    return email.strip().lower()


def phone_digits(phone_e164: str) -> str:
    """A phone number as digits only, country code first, no leading ``+``, ``00`` or ``0``
    (Snapchat's rule)."""
    digits = re.sub(r"\D", "", phone_e164)
    if phone_e164.strip().startswith("00"):
        digits = digits[2:]
    return digits.lstrip("0")


def phone_plus_e164(phone_e164: str) -> str:
    """A phone number in E.164 with its ``+`` (TikTok's rule: ``+`` and digits only)."""
    return "+" + phone_digits(phone_e164)


def hashed(value: str) -> str:
    """SHA-256 of an already normalised ``value``, unless it already is a SHA-256 hex."""
    return value if _SHA256_HEX.match(value) else sha256_hex(value)


def unix_seconds(moment: datetime) -> int:
    return int(_aware(moment).timestamp())


def unix_millis(moment: datetime) -> int:
    aware = _aware(moment)
    return int(aware.timestamp()) * 1000 + aware.microsecond // 1000


def iso_utc(moment: datetime) -> str:
    """``2026-08-04T10:15:00Z``: UTC, whole seconds."""
    return _aware(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def money(value: Decimal) -> str:
    """A value as a plain decimal string (no exponent)."""
    return format(value, "f")


def require(
    settings: Mapping[str, Any],
    credentials: Mapping[str, str],
    settings_names: Iterable[str],
    credential_names: Iterable[str],
) -> None:
    """Refuse the first missing or blank setting or credential."""
    for name in settings_names:
        value = settings.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise SettingsRefused(name, f"settings.{name} is required")
    for name in credential_names:
        secret = credentials.get(name)
        if not isinstance(secret, str) or not secret.strip():
            raise SettingsRefused(name, f"credentials.{name} is required")


def digits_setting(settings: Mapping[str, Any], name: str) -> None:
    value = settings.get(name)
    if not isinstance(value, str | int) or not str(value).isdigit():
        raise SettingsRefused(name, f"settings.{name} must be digits only")


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), when there is one."""
    header = response.headers.get("retry-after")
    if header is None:
        return None
    header = header.strip()
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def body_of(response: httpx.Response) -> Any:
    """The JSON body of ``response``, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def keyed(outcome: Outcome, key: str) -> Outcome:
    """``outcome`` for the conversion ``key``."""
    return Outcome(
        key=key,
        state=outcome.state,
        code=outcome.code,
        message=outcome.message,
        retry=outcome.retry,
        retry_after=outcome.retry_after,
    )


def every(batch: Sequence[Conversion], outcome: Outcome) -> list[Outcome]:
    """The same outcome for every conversion of ``batch`` (a request failed or passed whole)."""
    return [keyed(outcome, conversion.key) for conversion in batch]


def failure(
    code: str | None,
    message: str | None,
    *,
    retry: bool = False,
    retry_after: float | None = None,
) -> Outcome:
    """A refusal with the platform's own code and message (keyed later)."""
    return Outcome(
        key="", state="failed", code=code, message=message, retry=retry, retry_after=retry_after
    )


def network_failure(exc: httpx.HTTPError) -> Outcome:
    message = str(exc) or type(exc).__name__
    return Outcome(key="", state="failed", code="network", message=message, retry=True)


def http_failure(response: httpx.Response, code: str | None, message: str | None) -> Outcome:
    """A whole request refused: 429 and 5xx are retried (429 after ``Retry-After``), other
    statuses are final. ``code``/``message`` are the platform's when it gave them."""
    status = response.status_code
    retry = status == 429 or status >= 500
    return Outcome(
        key="",
        state="failed",
        code=code or f"http_{status}",
        message=message or response.reason_phrase or f"HTTP {status}",
        retry=retry,
        retry_after=retry_after(response) if retry else None,
    )


def sent(key: str) -> Outcome:
    return Outcome(key=key, state="sent")
