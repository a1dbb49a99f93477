"""Two tracking writers on one PostgreSQL database (two processes, each with its own
connection) that receive the same new cookieless visitor's first page at the same moment start
one visit between them: the second to look for the visitor's latest visit waits for the first's
transaction and resumes the visit it started."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from leadline.config import Settings
from leadline.kit.time import utcnow
from leadline.tracking import prepare as tracking
from leadline.tracking.prepare import VisitAnswer
from leadline.tracking.schemas import VisitStart
from leadline.tracking.writer import TrackingWriter
from tests.fixtures.factories import fetch_rows, make_site
from tests.tracking.scores import assert_rollups_hold_the_visits
from tests.tracking.test_writer import UA, _site, running

# Rounds of new visitors, and visitors per round: each visitor's first page is handed to both
# writers at once, so that both look for its latest visit while neither has committed.
ROUNDS = 30
VISITORS = 10


@pytest.fixture
def postgresql_only(settings: Settings) -> None:
    if settings.is_sqlite:
        pytest.skip("one SQLite database has one writer at a time (BEGIN IMMEDIATE)")


@pytest.mark.usefixtures("postgresql_only")
def test_a_new_visitors_first_pages_at_two_writers_start_one_visit(settings: Settings) -> None:
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    def start(round_: int, visitor: int) -> tracking.StartWork:
        # A cookieless visitor is its address and user agent (of the day): a new one each time.
        client = tracking.Client(
            ip=f"198.51.100.{visitor + 1}", user_agent=f"{UA} r{round_}", origin_host="shop.example"
        )
        return tracking.prepare_start(site, VisitStart(siteKey="k"), client, "s", utcnow())

    async def scenario() -> list[tuple[VisitAnswer, VisitAnswer]]:
        answered: list[tuple[VisitAnswer, VisitAnswer]] = []
        async with (
            running(settings.sync_url, capacity=10_000) as first,
            running(settings.sync_url, capacity=10_000) as second,
        ):
            for round_ in range(ROUNDS):
                # Alternate which writer is handed each page first.
                pairs: list[tuple[TrackingWriter, TrackingWriter]] = [
                    (first, second) if (round_ + n) % 2 else (second, first)
                    for n in range(VISITORS)
                ]
                works = [start(round_, n) for n in range(VISITORS)]
                answers = await asyncio.gather(
                    *(
                        writer.submit(work)
                        for (one, other), work in zip(pairs, works, strict=True)
                        for writer in (one, other)
                    )
                )
                answered.extend(zip(answers[::2], answers[1::2], strict=True))
        return answered

    answered = asyncio.run(scenario())
    assert len(answered) == ROUNDS * VISITORS
    for one, other in answered:
        assert one.visitor_id == other.visitor_id
    rows = fetch_rows(settings, "SELECT visitor_id, count(*) AS n FROM visits GROUP BY visitor_id")
    visits = Counter({row["visitor_id"]: int(row["n"]) for row in rows})
    assert len(visits) == ROUNDS * VISITORS
    twice = {visitor: n for visitor, n in visits.items() if n != 1}
    assert not twice, f"{len(twice)} of {len(visits)} visitors got more than one visit"
    # Both pages were answered with the one visit.
    assert all(one.visit_id == other.visit_id for one, other in answered)
    # Counted once, as a visit and as a visitor of the day.
    (total,) = fetch_rows(
        settings,
        "SELECT sum(visits) AS visits, sum(visitors) AS visitors FROM tracking_daily"
        " WHERE dimension = 'total'",
    )
    assert (total["visits"], total["visitors"]) == (ROUNDS * VISITORS, ROUNDS * VISITORS)
    assert_rollups_hold_the_visits(settings)
