"""Anomaly detection on generated history (weekly and daily seasonality, counting noise,
seeded) with known anomalies injected: each is found with its kind, and a month of normal
weeks raises none."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from leadline.analytics.anomalies import (
    THRESHOLDS,
    Finding,
    evaluate,
    severity_of,
    share_score,
)
from leadline.analytics.anomalies_service import Change, check
from leadline.cli import app
from leadline.config import Settings
from leadline.db import Database
from leadline.kit.hours import floor_hour
from leadline.kit.time import iso_millis, utcnow
from tests.analytics.history import HOUR, START, History
from tests.analytics.stored import hours_read, store_history
from tests.fixtures.factories import fetch_rows, make_key, make_site, make_webhook_endpoint

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


def test_more_submissions_than_usual_is_no_anomaly() -> None:
    history = History(weeks=10, visits_peak=300)
    for i in range(3):
        history.submissions[JUDGED - HOUR * (i + 1)] *= 4
    assert evaluate(history.series(), JUDGED) == []


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


def test_a_rise_of_refused_requests_is_found() -> None:
    history = History(weeks=10)
    history.errors[JUDGED - HOUR] = 60
    found = evaluate(history.series(), JUDGED)
    assert kinds(found) == ["ingest_errors"]
    assert found[0].sentence.startswith("60 tracking and form requests from example.com were")
    # A few more than usual is not a rise.
    history.errors[JUDGED - HOUR] = 12
    assert evaluate(history.series(), JUDGED) == []


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
        ingest_errors=young.ingest_errors,
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
    # A busy site's thousands of submissions neither overflow nor take long.
    assert share_score(650, 5000, 0.13) < THRESHOLDS["info"] < share_score(900, 5000, 0.13)


# ------------------------------------------------------------------ in the database


def run_check(settings: Settings, now: datetime, workspace: str | None = None) -> list[Change]:
    async def work() -> list[Change]:
        db = Database(settings)
        try:
            return await check(db, workspace_slug=workspace, now=now)
        finally:
            await db.dispose()

    return asyncio.run(work())


def outcomes(changes: list[Change]) -> set[tuple[str, str]]:
    return {(change.outcome, change.anomaly.kind) for change in changes}


def count(settings: Settings, sql: str) -> int:
    return int(fetch_rows(settings, sql)[0]["n"])


@pytest.fixture
def spiked_site(settings: Settings) -> str:
    """A site of ``acme`` with nine weeks of history, a traffic spike and many refused
    requests in the hour before JUDGED, and datacenter addresses sending most submissions in
    the three hours before it; a webhook endpoint takes both anomaly events."""
    key = make_key(settings, "acme", "admin")
    site_key = make_site(settings, "acme", "shop.example")
    make_webhook_endpoint(settings, key, ["anomaly.detected", "anomaly.resolved"])
    history = History(weeks=10, visits_peak=100, events_per_visit=1, submission_rate=0.15)
    history.visits[JUDGED - HOUR] *= 3
    history.errors[JUDGED - HOUR] = 80
    for i in range(3):
        hour = JUDGED - HOUR * (i + 1)
        history.datacenter[hour] = round(history.submissions[hour] * 0.7)
    store_history(settings, site_key, history, hours_read(JUDGED, JUDGED + HOUR))
    return site_key


def test_a_check_records_each_anomaly_once_and_queues_its_webhook(
    settings: Settings, spiked_site: str
) -> None:
    now = JUDGED + timedelta(minutes=5)
    first = run_check(settings, now)
    assert outcomes(first) == {
        ("detected", "traffic_spike"),
        ("detected", "vpn_share"),
        ("detected", "ingest_errors"),
    }
    assert {change.site_label for change in first} == {"shop.example"}
    again = run_check(settings, now + timedelta(minutes=20))
    assert outcomes(again) == {
        ("ongoing", "traffic_spike"),
        ("ongoing", "vpn_share"),
        ("ongoing", "ingest_errors"),
    }

    rows = fetch_rows(settings, "SELECT kind, status, severity, sentence FROM anomalies")
    assert sorted(row["kind"] for row in rows) == ["ingest_errors", "traffic_spike", "vpn_share"]
    assert {row["status"] for row in rows} == {"open"}
    spike = next(row for row in rows if row["kind"] == "traffic_spike")
    assert spike["sentence"].startswith("Visits to shop.example jumped to ")
    events = fetch_rows(settings, "SELECT type, body FROM webhook_events")
    assert sorted(event["type"] for event in events) == ["anomaly.detected"] * 3
    body = json.loads(next(e["body"] for e in events if "traffic_spike" in e["body"]))
    assert body["data"]["anomaly"]["kind"] == "traffic_spike"
    assert body["data"]["anomaly"]["status"] == "open"
    assert body["data"]["anomaly"]["window"]["end"] == iso_millis(JUDGED)
    assert count(settings, "SELECT count(*) AS n FROM webhook_deliveries") == 3


def test_an_anomaly_no_longer_seen_is_resolved(settings: Settings, spiked_site: str) -> None:
    run_check(settings, JUDGED + timedelta(minutes=5))
    later = run_check(settings, JUDGED + HOUR + timedelta(minutes=5))
    assert {("resolved", "traffic_spike"), ("resolved", "ingest_errors")} <= outcomes(later)
    spike = fetch_rows(
        settings, "SELECT status, resolved_at FROM anomalies WHERE kind = 'traffic_spike'"
    )
    assert [row["status"] for row in spike] == ["resolved"]
    assert spike[0]["resolved_at"] is not None
    resolved = fetch_rows(
        settings, "SELECT body FROM webhook_events WHERE type = 'anomaly.resolved'"
    )
    assert len(resolved) == len([c for c in later if c.outcome == "resolved"]) >= 2
    assert {json.loads(r["body"])["data"]["anomaly"]["status"] for r in resolved} == {"resolved"}
    # Nothing more to say about that hour, however often it is checked.
    again = run_check(settings, JUDGED + HOUR + timedelta(minutes=30))
    assert ("resolved", "traffic_spike") not in outcomes(again)
    assert count(settings, "SELECT count(*) AS n FROM anomalies") == 3
    assert count(
        settings, "SELECT count(*) AS n FROM webhook_events WHERE type = 'anomaly.resolved'"
    ) == len([c for c in later if c.outcome == "resolved"])


def test_a_check_of_one_workspace_leaves_the_others(settings: Settings, spiked_site: str) -> None:
    make_key(settings, "other", "admin")
    assert run_check(settings, JUDGED + timedelta(minutes=5), workspace="other") == []
    assert count(settings, "SELECT count(*) AS n FROM anomalies") == 0


def test_the_command_checks_now_and_prints_one_line_per_anomaly(
    settings: Settings, cli: CliRunner
) -> None:
    make_key(settings, "acme", "admin")
    site_key = make_site(settings, "acme", "shop.example")
    end = floor_hour(utcnow())
    history = History(weeks=10, start=end - timedelta(weeks=9), visits_peak=150, events_per_visit=1)
    # The hour before and the hour after this one's start: the check judges one of them,
    # whichever hour it runs in.
    for hour in (end - HOUR, end):
        history.visits[hour] = history.visits.get(hour, 0) * 3 + 300
    store_history(settings, site_key, history, hours_read(end, end + HOUR))

    answer = cli.invoke(app, ["anomalies", "check", "--workspace", "acme"])
    assert answer.exit_code == 0, answer.output
    lines = answer.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].split()[:3] == ["detected", lines[0].split()[1], "traffic_spike"]
    assert "acme  shop.example  Visits to shop.example jumped to" in lines[0]

    again = cli.invoke(app, ["anomalies", "check"])
    assert again.exit_code == 0, again.output
    assert again.stdout.split()[0] == "ongoing"
    assert count(settings, "SELECT count(*) AS n FROM anomalies") == 1

    unknown = cli.invoke(app, ["anomalies", "check", "--workspace", "nobody"])
    assert unknown.exit_code == 1
