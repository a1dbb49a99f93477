"""Reporting periods: a range of days in a time zone, its UTC bounds, and the period before it.

``from`` and ``to`` are dates, both included, read in ``tz`` (an IANA name): a day is that
zone's day, so a report for Amsterdam counts from local midnight to local midnight, 23 or 25
hours across a daylight-saving change. The previous period is as many days, ending the day
before ``from``, so a number can be shown beside the one it follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from leadline.errors import ValidationFailed

DEFAULT_DAYS = 30
# A period longer than this is refused: two years and a leap day.
MAX_DAYS = 731


@dataclass(frozen=True, slots=True)
class Period:
    first: date
    last: date
    tz: ZoneInfo

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        """The first instant of the period, in UTC."""
        return local_midnight(self.first, self.tz)

    @property
    def end(self) -> datetime:
        """The first instant after the period, in UTC (exclusive)."""
        return local_midnight(self.last + timedelta(days=1), self.tz)

    @property
    def previous(self) -> Period:
        """As many days, ending the day before this one starts."""
        last = self.first - timedelta(days=1)
        return Period(last - timedelta(days=self.days - 1), last, self.tz)

    def each_day(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]

    def day_of(self, moment: datetime) -> date:
        """The period's zone's day that ``moment`` falls in."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.tz).date()


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """When ``day`` begins in ``tz``, in UTC."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def parse_zone(name: str | None) -> ZoneInfo:
    if name is None or not name.strip():
        return ZoneInfo("UTC")
    cleaned = name.strip()
    # ZoneInfo reads files by name: refuse anything that is not a plain zone name.
    if len(cleaned) > 64 or ".." in cleaned or cleaned.startswith("/") or "\x00" in cleaned:
        raise ValidationFailed(f"tz: unknown time zone '{name}'", details={"parameter": "tz"})
    try:
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationFailed(
            f"tz: unknown time zone '{name}'; use an IANA name such as Europe/Amsterdam",
            details={"parameter": "tz"},
        ) from None


def _parse_day(value: str, parameter: str) -> date:
    """A date, or the date part of a date-time (``2026-03-01T00:00:00Z``)."""
    text = value.strip()
    if len(text) > 10 and text[10] in "Tt ":
        text = text[:10]
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            f"{parameter} must be a date (YYYY-MM-DD), not '{value}'",
            details={"parameter": parameter},
        ) from None


def parse_period(
    first: str | None,
    last: str | None,
    tz: str | None,
    *,
    today: date | None = None,
    default_days: int = DEFAULT_DAYS,
) -> Period:
    """The period ``first``..``last`` in zone ``tz``. Without ``last``: up to today (in the
    zone); without ``first``: ``default_days`` days up to ``last``. ValidationFailed names the
    parameter at fault."""
    zone = parse_zone(tz)
    end = _parse_day(last, "to") if last else (today or datetime.now(zone).date())
    start = _parse_day(first, "from") if first else end - timedelta(days=default_days - 1)
    if start > end:
        raise ValidationFailed(f"from ({start}) is after to ({end})", details={"parameter": "from"})
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            f"a period is at most {MAX_DAYS} days", details={"parameter": "from"}
        )
    try:
        period = Period(start, end, zone)
        period.previous.start  # noqa: B018 - the previous period must be representable too
        period.end  # noqa: B018
    except OverflowError:
        raise ValidationFailed(
            "the period is out of range", details={"parameter": "from"}
        ) from None
    return period
