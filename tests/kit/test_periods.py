"""Reporting periods: zone days, daylight-saving days, the previous period, bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from leadline.errors import ValidationFailed
from leadline.kit.periods import MAX_DAYS, parse_period


def test_a_period_is_its_zones_days() -> None:
    period = parse_period("2026-03-01", "2026-03-31", "Europe/Amsterdam")
    assert period.start == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
    # Summer time from 29 March: the last day ends at 22:00 UTC.
    assert period.end == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)
    assert period.days == 31
    assert period.day_of(datetime(2026, 3, 14, 23, 30, tzinfo=UTC)) == date(2026, 3, 15)


def test_the_previous_period_has_as_many_days_and_ends_the_day_before() -> None:
    previous = parse_period("2026-03-01", "2026-03-31", None).previous
    assert (previous.first, previous.last) == (date(2026, 1, 29), date(2026, 2, 28))
    assert previous.days == 31


def test_defaults_are_thirty_days_up_to_today_in_the_zone() -> None:
    period = parse_period(None, None, "Pacific/Kiritimati", today=date(2026, 12, 6))
    assert (period.first, period.last) == (date(2026, 11, 7), date(2026, 12, 6))
    assert parse_period(None, "2026-12-06", None).first == date(2026, 11, 7)
    assert parse_period("2026-12-06T10:00:00Z", "2026-12-06", None).days == 1


@pytest.mark.parametrize(
    ("first", "last", "tz", "parameter"),
    [
        ("2026-13-01", None, None, "from"),
        (None, "yesterday", None, "to"),
        ("2026-03-02", "2026-03-01", None, "from"),
        ("2020-01-01", "2026-01-01", None, "from"),
        (None, None, "Mars/Olympus", "tz"),
        (None, None, "../../etc/passwd", "tz"),
        (None, None, "UTC\x00", "tz"),
        ("0001-01-01", "0001-01-02", None, "from"),
        ("9999-12-30", "9999-12-31", "Pacific/Kiritimati", "from"),
    ],
)
def test_bad_periods_name_the_parameter(
    first: str | None, last: str | None, tz: str | None, parameter: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_period(first, last, tz)
    assert refused.value.details == {"parameter": parameter}


def test_the_longest_period_is_allowed() -> None:
    assert parse_period("2024-01-01", None, None, today=date(2025, 12, 31)).days == MAX_DAYS
