"""UTC time, and the ISO-8601 forms the APIs speak."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_millis(value: datetime) -> str:
    """``2026-03-10T12:00:00.000Z``: UTC with milliseconds, as the Octanist API writes it."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def iso_micros(value: datetime) -> str:
    """``2026-03-10T12:00:00.000000Z``: UTC with microseconds, all a stored timestamp holds."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def after_millisecond(when: datetime | None) -> datetime | None:
    """Where "after ``when``" starts for a client that reads times to the millisecond (as
    the APIs write them): the next millisecond, so everything of ``when``'s own is before."""
    if when is None:
        return None
    return when.replace(microsecond=when.microsecond // 1000 * 1000) + timedelta(milliseconds=1)


def parse_datetime(text: str) -> datetime:
    """Parse an ISO-8601 date or date-time; naive values are UTC. Raises ValueError."""
    try:
        return _parse_datetime(text)
    except OverflowError:
        raise ValueError(f"date out of range: {text!r}") from None


def _parse_datetime(text: str) -> datetime:
    raw = text.strip()
    if not raw:
        raise ValueError("empty date")
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    if len(raw) == 10:
        return datetime.combine(date.fromisoformat(raw), time.min, tzinfo=UTC)
    parsed = datetime.fromisoformat(raw)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
