"""What the Microsoft, TikTok, LinkedIn, Reddit and Snapchat adapters share besides hashing
and answers: how long a request may take, checking a destination's settings, and how times and
money are written on their wires."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from leadline.conversions.platforms.base import SettingsRefused

# How long one request may take before it counts as a network failure (seconds).
TIMEOUT = 30.0


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
