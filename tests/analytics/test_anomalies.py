"""Anomaly detection on generated history (weekly and daily seasonality, counting noise,
seeded) with known anomalies injected: each is found with its kind, and a month of normal
weeks raises none."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadline.analytics.anomalies import (
    THRESHOLDS,
    Finding,
    evaluate,
    severity_of,
    share_score,
)
from tests.analytics.history import HOUR, START, History

# Tuesday 15:00-16:00 UTC of the tenth week: 9 weeks of history before it.
JUDGED = START + timedelta(weeks=9, days=1, hours=16)


def kinds(found: list[Finding]) -> list[str]:
    return [finding.kind for finding in found]


def month_of_findings(history: History) -> list[Finding]:
    series = history.series()
    found = []
    end = history.end - timedelta(weeks=4)
    while end <= history.end:
        found.extend(evaluate(series, end))
        end += HOUR
    return found


@pytest.mark.parametrize(
    "volume",
    [
        {},
        {"visits_peak": 40, "submission_rate": 0.1},
        {"visits_peak": 1000, "submission_rate": 0.02},
        {"visits_peak": 300, "vpn_share": 0.3},
    ],
    ids=["medium", "small", "large", "vpn-heavy"],
)
def test_a_month_of_normal_weeks_raises_none(volume: dict[str, float]) -> None:
    assert month_of_findings(History(weeks=12, seed=11, **volume)) == []


def test_a_quiet_site_raises_none_even_when_it_stops() -> None:
    history = History(weeks=12, seed=3, visits_peak=4)
    for series in (history.visits, history.events, history.submissions):
        for i in range(3):
            series[JUDGED - HOUR * (i + 1)] = 0
    assert evaluate(history.series(), JUDGED) == []
    assert month_of_findings(history) == []


def test_a_traffic_spike_is_found() -> None:
    history = History(weeks=10)
    hour = JUDGED - HOUR
    history.visits[hour] *= 3
    found = evaluate(history.series(), JUDGED)
    assert kinds(found) == ["traffic_spike"]
    spike = found[0]
    assert spike.observed == history.visits[hour]
    assert spike.expected_low < history.visits[hour] / 3 < spike.expected_high < spike.observed
    assert spike.start == hour
    assert spike.end == JUDGED
    assert spike.severity in ("warning", "critical")
    assert spike.sentence.startswith(f"Visits to example.com jumped to {spike.observed:.0f}")
    assert "between 15:00 and 16:00 UTC" in spike.sentence


def test_a_traffic_drop_is_found() -> None:
    history = History(weeks=10)
    history.visits[JUDGED - HOUR] //= 4
    found = evaluate(history.series(), JUDGED)
    assert kinds(found) == ["traffic_drop"]
    assert found[0].observed < found[0].expected_low


def test_events_gone_for_an_hour_is_tracking_broken_not_a_traffic_drop() -> None:
    history = History(weeks=10)
    history.events[JUDGED - HOUR] = 0
    history.visits[JUDGED - HOUR] = 0
    found = evaluate(history.series(), JUDGED)
    assert kinds(found) == ["events_missing"]
    assert found[0].severity == "critical"
    assert found[0].observed == 0
    assert found[0].expected_low > 0
    assert "No tracking events arrived from example.com" in found[0].sentence


def test_a_drop_of_submissions_is_found() -> None:
    history = History(weeks=10, visits_peak=300)
    for i in range(3):
        history.submissions[JUDGED - HOUR * (i + 1)] //= 5
    found = evaluate(history.series(), JUDGED)
    assert kinds(found) == ["submission_drop"]
    drop = found[0]
    assert drop.start == JUDGED - 3 * HOUR
    assert drop.observed < drop.expected_low
    assert drop.sentence.startswith(f"Lead submissions on example.com fell to {drop.observed:.0f}")


def test_submissions_gone_while_visits_are_normal_is_a_broken_form() -> None:
    history = History(weeks=10)
    for i in range(3):
        history.submissions[JUDGED - HOUR * (i + 1)] = 0
        history.datacenter[JUDGED - HOUR * (i + 1)] = 0
    found = evaluate(history.series(), JUDGED)
    assert kinds(found) == ["submissions_missing"]
    assert found[0].severity == "critical"


def test_submissions_gone_with_the_visits_is_a_drop_of_both() -> None:
    history = History(weeks=10, visits_peak=300)
    for i in range(3):
        history.submissions[JUDGED - HOUR * (i + 1)] = 0
    history.visits[JUDGED - HOUR] //= 5
    assert kinds(evaluate(history.series(), JUDGED)) == ["traffic_drop", "submission_drop"]


def test_a_jump_of_the_vpn_share_is_found() -> None:
    history = History(weeks=10, visits_peak=200)
    for i in range(3):
        hour = JUDGED - HOUR * (i + 1)
        history.datacenter[hour] = round(history.submissions[hour] * 0.7)
    found = evaluate(history.series(), JUDGED)
    assert kinds(found) == ["vpn_share"]
    share = found[0]
    assert share.observed > 0.6
    assert share.expected_low == 0 < share.expected_high < 0.5
    assert "came from datacenter, cloud or VPN addresses" in share.sentence


def test_a_site_younger_than_four_weeks_is_not_judged() -> None:
    history = History(weeks=10)
    history.visits[JUDGED - HOUR] *= 5
    young = history.series()
    young = type(young)(
        label=young.label,
        since=JUDGED - timedelta(weeks=3, hours=12),
        visits=young.visits,
        events=young.events,
        submissions=young.submissions,
        datacenter_submissions=young.datacenter_submissions,
    )
    assert evaluate(young, JUDGED) == []
    assert kinds(evaluate(history.series(), JUDGED)) == ["traffic_spike"]


def test_a_history_that_never_moved_still_needs_a_real_change() -> None:
    flat = {START + HOUR * i: 100 for i in range(10 * 7 * 24)}
    series = History(weeks=1).series()
    series = type(series)(
        label="flat.example",
        since=START,
        visits=flat | {JUDGED - HOUR: 108},
        events={},
        submissions={},
        datacenter_submissions={},
    )
    assert evaluate(series, JUDGED) == []
    series.visits[JUDGED - HOUR] = 300  # type: ignore[index]
    assert kinds(evaluate(series, JUDGED)) == ["traffic_spike"]


def test_severity_grows_with_the_score() -> None:
    assert severity_of(THRESHOLDS["info"] - 0.01) is None
    assert severity_of(-THRESHOLDS["info"]) == "info"
    assert severity_of(THRESHOLDS["warning"]) == "warning"
    assert severity_of(THRESHOLDS["critical"] + 5) == "critical"


def test_a_share_is_scored_by_its_exact_tail() -> None:
    # 2 of 10 at a usual 10% is ordinary; 8 of 10 is not.
    assert share_score(2, 10, 0.1) < 1
    assert share_score(8, 10, 0.1) > THRESHOLDS["info"]
    assert share_score(0, 10, 0.1) == 0
