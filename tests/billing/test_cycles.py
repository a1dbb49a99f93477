"""Billing cycles: from the cycle day of one month to the cycle day of the next, a month shorter
than the day starting its cycle on its last day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadline.billing.service import Cycle, cycle_of


@pytest.mark.parametrize(
    ("day", "cycle_day", "start", "end"),
    [
        # The first of the month: calendar months.
        (date(2026, 3, 1), 1, date(2026, 3, 1), date(2026, 4, 1)),
        (date(2026, 3, 31), 1, date(2026, 3, 1), date(2026, 4, 1)),
        (date(2026, 12, 15), 1, date(2026, 12, 1), date(2027, 1, 1)),
        # Mid-month: the day before the cycle day is in the cycle begun last month.
        (date(2026, 3, 14), 15, date(2026, 2, 15), date(2026, 3, 15)),
        (date(2026, 3, 15), 15, date(2026, 3, 15), date(2026, 4, 15)),
        (date(2026, 1, 10), 15, date(2025, 12, 15), date(2026, 1, 15)),
        # Day 31 in a 30-day month: the cycle starts on the 30th.
        (date(2026, 4, 29), 31, date(2026, 3, 31), date(2026, 4, 30)),
        (date(2026, 4, 30), 31, date(2026, 4, 30), date(2026, 5, 31)),
        (date(2026, 5, 30), 31, date(2026, 4, 30), date(2026, 5, 31)),
        (date(2026, 5, 31), 31, date(2026, 5, 31), date(2026, 6, 30)),
        # February, in a common year and a leap year.
        (date(2026, 2, 27), 31, date(2026, 1, 31), date(2026, 2, 28)),
        (date(2026, 2, 28), 31, date(2026, 2, 28), date(2026, 3, 31)),
        (date(2026, 3, 30), 30, date(2026, 3, 30), date(2026, 4, 30)),
        (date(2026, 3, 29), 30, date(2026, 2, 28), date(2026, 3, 30)),
        (date(2028, 2, 28), 30, date(2028, 1, 30), date(2028, 2, 29)),
        (date(2028, 2, 29), 30, date(2028, 2, 29), date(2028, 3, 30)),
        (date(2028, 2, 29), 29, date(2028, 2, 29), date(2028, 3, 29)),
        (date(2027, 3, 1), 29, date(2027, 2, 28), date(2027, 3, 29)),
    ],
)
def test_the_cycle_a_day_falls_in(day: date, cycle_day: int, start: date, end: date) -> None:
    assert cycle_of(day, cycle_day) == Cycle(start, end)


def test_a_cycle_runs_from_midnight_utc_to_midnight_utc() -> None:
    cycle = cycle_of(date(2026, 4, 30), 31)
    assert cycle.starts_at == datetime(2026, 4, 30, tzinfo=UTC)
    assert cycle.ends_at == datetime(2026, 5, 31, tzinfo=UTC)


@pytest.mark.parametrize("cycle_day", [0, 32, -1])
def test_a_cycle_day_is_a_day_of_a_month(cycle_day: int) -> None:
    with pytest.raises(ValueError, match="1-31"):
        cycle_of(date(2026, 1, 1), cycle_day)


@given(st.dates(min_value=date(1900, 2, 1), max_value=date(2999, 11, 30)), st.integers(1, 31))
def test_cycles_hold_their_day_and_follow_each_other(day: date, cycle_day: int) -> None:
    cycle = cycle_of(day, cycle_day)
    assert cycle.start <= day < cycle.end
    # A cycle is about a month, and the next one starts where it ends.
    assert timedelta(days=28) <= cycle.end - cycle.start <= timedelta(days=31)
    assert cycle_of(cycle.end, cycle_day).start == cycle.end
    assert cycle_of(cycle.start - timedelta(days=1), cycle_day).end == cycle.start
    # It starts on the cycle day, or on the last day of a month too short for it.
    assert cycle.start.day == cycle_day or (
        cycle.start.day < cycle_day and (cycle.start + timedelta(days=1)).day == 1
    )
