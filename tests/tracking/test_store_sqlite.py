"""The SQLite store's own parts: the text of its times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from leadline.tracking.store_sqlite import EventTimes


def test_event_times_as_text_match_isoformat_across_seconds_and_zones() -> None:
    start = datetime(2026, 12, 31, 23, 59, 58, 999_999, tzinfo=UTC)
    moments = [start + timedelta(microseconds=step * 250_001) for step in range(12)]
    moments += [
        datetime(2027, 1, 31, 23, 59, 58, 999_999, tzinfo=UTC),  # same clock, another month
        datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC),  # no microseconds
        datetime(2026, 12, 6, 13, 0, 0, 5, tzinfo=timezone(timedelta(hours=1))),
    ]
    times = EventTimes()
    for moment in [*moments, *moments]:  # each moment twice: the second from what is kept
        expected = moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        assert times.text(moment) == expected
