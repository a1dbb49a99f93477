"""The engine's submission aggregates, read from the quarter-hour rollups the capture keeps:
days of the caller's zone (across midnight, and India's half-hour offset), filters, the
previous period, the sources of submissions, and what erasure and purge do to the counts."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.analytics import submissions
from leadline.analytics.masking import mask_email, mask_phone
from leadline.analytics.query import ReportQuery
from leadline.analytics.submissions import Filters, Scope
from leadline.audit.service import Actor
from leadline.config import Settings
from leadline.errors import ValidationFailed
from leadline.forms import service as forms
from leadline.kit.periods import parse_period
from leadline.privacy import service as privacy
from tests.fixtures.factories import fetch_rows, run_in_transaction
from tests.fixtures.lead_reports import capture_site, submission, submit, visit


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def report(
    settings: Settings,
    first: str,
    last: str,
    tz: str = "UTC",
    filters: Filters | None = None,
    call: Any = submissions.daily,
) -> dict[str, Any]:
    (workspace,) = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")
    query = ReportQuery(
        workspace_id=workspace["id"],
        site_ids=(),
        period=parse_period(first, last, tz),
        now=datetime.now(UTC),
        role="admin",
        pages=(),
    )
    scope = Scope(query, None, filters or Filters())

    async def work(session: AsyncSession) -> dict[str, Any]:
        found: dict[str, Any] = await call(session, scope)
        return found

    return run_in_transaction(settings, work)


def per_day(answer: dict[str, Any]) -> dict[str, int]:
    return {day["date"]: day["submissions"]["value"] for day in answer["days"]}


@pytest.fixture
def site(settings: Settings) -> str:
    return capture_site(settings)


def test_the_capture_counts_each_submission_in_its_quarter_hour(
    client: TestClient, settings: Settings, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(client, monkeypatch, site, at(9, 10, 7), EMAIL="a@example.com", SOURCE="FB")
    submit(client, monkeypatch, site, at(9, 10, 14), EMAIL="b@example.com", SOURCE="FB")
    submit(client, monkeypatch, site, at(9, 10, 15), EMAIL="c@example.com", SOURCE="FB")
    rows = fetch_rows(
        settings,
        "SELECT bucket, submissions, created, source, suspicion_total FROM submission_rollups"
        " WHERE NOT whole ORDER BY bucket",
    )
    assert [(str(row["bucket"])[:16], row["submissions"]) for row in rows] == [
        ("2026-03-09 10:00", 2),
        ("2026-03-09 10:15", 1),
    ]
    assert {(row["created"], row["source"]) for row in rows} == {(2, "FB"), (1, "FB")}
    # Sent without a tracked visit: 15 points each.
    assert sum(row["suspicion_total"] for row in rows) == 45
    (day,) = fetch_rows(
        settings, "SELECT day, submissions, created FROM submission_days WHERE NOT whole"
    )
    assert (str(day["day"]), day["submissions"], day["created"]) == ("2026-03-09", 3, 3)
    # And the rows of every project, source and label at once, for unfiltered reports.
    whole = fetch_rows(
        settings, "SELECT project, source, submissions FROM submission_rollups WHERE whole"
    )
    assert sorted((row["project"], row["source"], row["submissions"]) for row in whole) == [
        ("", "", 1),
        ("", "", 2),
    ]


def test_any_zones_days_add_up_to_the_submissions_in_them(
    client: TestClient, settings: Settings, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Days read from day rows and corrected at each bound by quarters count exactly what
    the submissions themselves say, in zones east and west, on the hour and off it."""
    rng = random.Random(3)
    moments = [
        datetime(2026, 3, 5, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 8 * 24 * 60))
        for _ in range(40)
    ]
    for n, moment in enumerate(moments):
        submit(client, monkeypatch, site, moment, EMAIL=f"p{n}@example.com")
    for zone in (
        "UTC",
        "Europe/Amsterdam",
        "Asia/Kolkata",
        "America/Los_Angeles",
        "Asia/Kathmandu",
        "Pacific/Auckland",
    ):
        tz = ZoneInfo(zone)
        answer = report(settings, "2026-03-07", "2026-03-10", zone)
        expected = Counter(moment.astimezone(tz).date().isoformat() for moment in moments)
        assert per_day(answer) == {
            day: expected.get(day, 0)
            for day in ("2026-03-07", "2026-03-08", "2026-03-09", "2026-03-10")
        }, zone
        earlier = {d["previous_date"]: d["submissions"]["previous"] for d in answer["days"]}
        assert earlier == {day: expected.get(day, 0) for day in earlier}, zone
        projects = report(settings, "2026-03-07", "2026-03-10", zone, call=submissions.by_project)
        in_period = sum(
            1
            for moment in moments
            if "2026-03-07" <= moment.astimezone(tz).date().isoformat() <= "2026-03-10"
        )
        assert projects["total"]["value"] == in_period, zone


def test_days_are_the_zones_days_across_midnight(
    client: TestClient, settings: Settings, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Amsterdam is UTC+1 in March (before the 29th): 22:50 UTC is 23:50 there, 23:10 is 00:10.
    submit(client, monkeypatch, site, at(9, 22, 50), EMAIL="late@example.com")
    submit(client, monkeypatch, site, at(9, 23, 10), EMAIL="later@example.com")
    # India is UTC+05:30: 18:20 UTC is 23:50 on the 10th there, 18:40 is 00:10 on the 11th.
    submit(client, monkeypatch, site, at(10, 18, 20), EMAIL="mumbai1@example.com")
    submit(client, monkeypatch, site, at(10, 18, 40), EMAIL="mumbai2@example.com")

    utc = report(settings, "2026-03-09", "2026-03-11")
    assert per_day(utc) == {"2026-03-09": 2, "2026-03-10": 2, "2026-03-11": 0}
    amsterdam = report(settings, "2026-03-09", "2026-03-11", "Europe/Amsterdam")
    assert per_day(amsterdam) == {"2026-03-09": 1, "2026-03-10": 3, "2026-03-11": 0}
    kolkata = report(settings, "2026-03-09", "2026-03-11", "Asia/Kolkata")
    # (The 9th's both are early on the 10th there.)
    assert per_day(kolkata) == {"2026-03-09": 0, "2026-03-10": 3, "2026-03-11": 1}
    assert kolkata["total"]["submissions"] == {"value": 4, "previous": 0}
    # One day alone: midnight to midnight in the zone.
    assert (
        report(settings, "2026-03-10", "2026-03-10", "Europe/Amsterdam")["total"]["submissions"][
            "value"
        ]
        == 1 + 2
    )


def test_each_number_has_the_previous_periods_beside_it(
    client: TestClient, settings: Settings, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(client, monkeypatch, site, at(7, 12), EMAIL="one@example.com")
    submit(client, monkeypatch, site, at(8, 12), EMAIL="two@example.com")
    submit(client, monkeypatch, site, at(8, 13), EMAIL="two@example.com")  # joins its lead
    submit(client, monkeypatch, site, at(10, 12), EMAIL="three@example.com")
    daily = report(settings, "2026-03-09", "2026-03-10")
    assert daily["previous_period"] == {"from": "2026-03-07", "to": "2026-03-08", "tz": "UTC"}
    assert [(d["date"], d["previous_date"], d["submissions"]) for d in daily["days"]] == [
        ("2026-03-09", "2026-03-07", {"value": 0, "previous": 1}),
        ("2026-03-10", "2026-03-08", {"value": 1, "previous": 2}),
    ]
    overview = report(settings, "2026-03-09", "2026-03-10", call=submissions.overview)
    assert overview["submissions"] == {"value": 1, "previous": 3}
    assert overview["leads"] == {"value": 1, "previous": 2}
    assert overview["merged"] == {"value": 0, "previous": 1}
    assert overview["avg_suspicion"] == {"value": 15.0, "previous": 15.0}
    assert overview["avg_engagement"] == {"value": None, "previous": None}


def test_breakdowns_and_filters(
    client: TestClient, settings: Settings, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hot = visit(client, site, scroll=100, clicks=20)
    warm = visit(client, site, "https://shop.example/?utm_source=newsletter", scroll=100)
    cold = visit(client, site)
    submit(client, monkeypatch, site, at(9, 9), seen=hot, EMAIL="h@example.com", PROJECT="Dock")
    submit(client, monkeypatch, site, at(9, 10), seen=warm, EMAIL="w@example.com", PROJECT="Dock")
    submit(
        client,
        monkeypatch,
        site,
        at(9, 11),
        seen=cold,
        tts=2,
        EMAIL="c@example.com",
        PROJECT="Mill",
        SOURCE="99",
    )
    submit(client, monkeypatch, site, at(9, 12), EMAIL="n@example.com")

    projects = report(settings, "2026-03-09", "2026-03-09", call=submissions.by_project)
    assert [(r["project"], r["submissions"]["value"]) for r in projects["rows"]] == [
        ("Dock", 2),
        (None, 1),
        ("Mill", 1),
    ]
    assert projects["rows"][0]["share"] == 50.0
    sources = report(settings, "2026-03-09", "2026-03-09", call=submissions.by_source)
    # The SOURCE field, else the utm_source of the visit, else its channel; none without.
    assert {r["source"]: r["submissions"]["value"] for r in sources["rows"]} == {
        "99": 1,
        "newsletter": 1,
        "direct": 1,
        None: 1,
    }
    engagement = report(settings, "2026-03-09", "2026-03-09", call=submissions.by_engagement)
    assert [(r["engagement"], r["submissions"]["value"]) for r in engagement["rows"]] == [
        ("Very Hot", 0),
        ("Hot", 1),
        ("Warm", 1),
        ("Cold", 1),
        (None, 1),
    ]

    def total(filters: Filters) -> int:
        found = report(settings, "2026-03-09", "2026-03-09", filters=filters)
        value: int = found["total"]["submissions"]["value"]
        return value

    assert total(Filters(project="Dock")) == 2
    assert total(Filters(project="")) == 1
    assert total(Filters(source="99")) == 1
    assert total(Filters(engagement_label="Hot")) == 1
    assert total(Filters(engagement_label="")) == 1
    assert total(Filters(project="Dock", engagement_label="Cold")) == 0
    # Two seconds on a visit with no engagement: 30 + 10 points.
    assert total(Filters(suspicious=True)) == 1
    assert total(Filters(suspicious=False)) == 3


def test_the_filters_are_parsed_and_refused_by_name() -> None:
    parsed = submissions.parse_filters(
        {"project": " Dock ", "source": "(none)", "engagement": "very hot", "suspicion": "clean"}
    )
    assert parsed == Filters(
        project="Dock", source="", engagement_label="Very Hot", suspicious=False
    )
    for params, name in (
        ({"engagement": "tepid"}, "engagement"),
        ({"suspicion": "maybe"}, "suspicion"),
        ({"project": "x" * 201}, "project"),
    ):
        with pytest.raises(ValidationFailed) as raised:
            submissions.parse_filters(params)
        assert raised.value.details == {"parameter": name}


def test_options_list_the_periods_projects_and_sources(
    client: TestClient, settings: Settings, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(client, monkeypatch, site, at(9, 9), EMAIL="a@example.com", PROJECT="Mill")
    submit(client, monkeypatch, site, at(9, 9), EMAIL="b@example.com", PROJECT="Dock", SOURCE="FB")
    submit(client, monkeypatch, site, at(1, 9), EMAIL="c@example.com", PROJECT="Old")

    async def projects(session: AsyncSession, scope: Scope) -> dict[str, Any]:
        return {"found": await submissions.options(session, scope, "project")}

    found = report(settings, "2026-03-09", "2026-03-09", call=projects)["found"]
    assert found == ["Dock", "Mill"]


def test_an_erasure_keeps_the_counts(
    client: TestClient, settings: Settings, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(client, monkeypatch, site, at(9, 9), EMAIL="ada@example.com")
    submit(client, monkeypatch, site, at(9, 10), EMAIL="bo@example.com")
    (workspace,) = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")

    async def erase(session: AsyncSession) -> None:
        await privacy.erase(
            session, workspace["id"], Actor.system("test"), emails=["ada@example.com"], phones=[]
        )

    run_in_transaction(settings, erase)
    assert [row["email"] for row in fetch_rows(settings, "SELECT email FROM lead_submissions")] == [
        "bo@example.com"
    ]
    assert report(settings, "2026-03-09", "2026-03-09")["total"]["submissions"]["value"] == 2


def test_a_purge_step_removes_the_workspaces_rollups(
    client: TestClient, settings: Settings, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(client, monkeypatch, site, at(9, 9), EMAIL="a@example.com")
    submit(client, monkeypatch, site, at(9, 10), EMAIL="b@example.com")
    (workspace,) = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")

    async def purge(session: AsyncSession) -> int:
        return await forms.delete_rollups_of_workspace(session, workspace["id"], 1)

    # Two quarters and a day, each also as a whole row; a row per transaction.
    assert [run_in_transaction(settings, purge) for _ in range(7)] == [1, 1, 1, 1, 1, 1, 0]
    assert fetch_rows(settings, "SELECT * FROM submission_rollups") == []
    assert fetch_rows(settings, "SELECT * FROM submission_days") == []


def test_the_source_of_a_submission_is_kept_with_it(
    client: TestClient, settings: Settings, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tagged = visit(client, site, "https://shop.example/?utm_source=google&gclid=G1")
    with_field = submit(client, monkeypatch, site, at(9, 9), seen=tagged, SOURCE=" WebSite ")
    from_visit = submit(client, monkeypatch, site, at(9, 9), seen=tagged, EMAIL="v@example.com")
    assert submission(settings, with_field)["source"] == "WebSite"
    assert submission(settings, from_visit)["source"] == "google"


def test_masking_shows_the_first_letter_and_the_ends_of_a_number() -> None:
    assert mask_email("jan@example.com") == "j***@example.com"
    assert mask_phone("+31612345678") == "+316******78"
    assert mask_email(None) is None


def test_a_period_starts_on_a_quarter_hour_in_every_zone() -> None:
    """The rollups' quarters add up to a zone's day only if its midnight falls on one."""
    from zoneinfo import available_timezones

    day = date(2026, 3, 9)
    for name in sorted(available_timezones()):
        period = parse_period(day.isoformat(), day.isoformat(), name)
        for moment in (period.start, period.end):
            assert moment.minute % forms.BUCKET_MINUTES == 0, name
            assert moment.second == 0, name
