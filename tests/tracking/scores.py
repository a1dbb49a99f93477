"""The engagement scores and bounces the rollups hold, against what the visits' rows say."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from leadline.config import Settings
from leadline.tracking.counts import score_class
from tests.fixtures.factories import fetch_rows


def _hour(value: Any) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0).isoformat()


def _day(value: Any) -> str:
    return str(value)[:10]


def from_visits(settings: Settings) -> tuple[Counter[tuple[str, ...]], Counter[tuple[str, ...]]]:
    """Per (site, hour, dimension, value) and (site, day, dimension, value): the people's
    visits under their score class, their scores' sum, and, when they viewed one page, the
    visits under ``bounce``."""
    hourly: Counter[tuple[str, ...]] = Counter()
    daily: Counter[tuple[str, ...]] = Counter()
    for visit in fetch_rows(
        settings, "SELECT site_id, started_at, engagement_score, page_views, bot_reason FROM visits"
    ):
        if visit["bot_reason"]:
            continue
        hour = _hour(visit["started_at"])
        score = visit["engagement_score"]
        keys = [("score", str(score_class(score)), 1), ("score_sum", "", score)]
        if visit["page_views"] == 1:
            keys.append(("bounce", "", 1))
        for dimension, value, count in keys:
            if count:
                hourly[(visit["site_id"], hour, dimension, value)] += count
                daily[(visit["site_id"], hour[:10], dimension, value)] += count
    return hourly, daily


def in_rollups(settings: Settings) -> tuple[Counter[tuple[str, ...]], Counter[tuple[str, ...]]]:
    hourly: Counter[tuple[str, ...]] = Counter()
    daily: Counter[tuple[str, ...]] = Counter()
    for row in fetch_rows(
        settings,
        "SELECT site_id, hour, dimension, value, visits FROM tracking_hourly"
        " WHERE dimension IN ('score', 'score_sum', 'bounce') AND visits <> 0",
    ):
        hourly[(row["site_id"], _hour(row["hour"]), row["dimension"], row["value"])] += row[
            "visits"
        ]
    for row in fetch_rows(
        settings,
        "SELECT site_id, day, dimension, value, visits FROM tracking_daily"
        " WHERE dimension IN ('score', 'score_sum', 'bounce') AND visits <> 0",
    ):
        daily[(row["site_id"], _day(row["day"]), row["dimension"], row["value"])] += row["visits"]
    return hourly, daily


def assert_rollups_hold_the_visits(settings: Settings) -> None:
    hourly, daily = in_rollups(settings)
    expected_hourly, expected_daily = from_visits(settings)
    assert expected_hourly  # something was counted
    assert hourly == expected_hourly
    assert daily == expected_daily
