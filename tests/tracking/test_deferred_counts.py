"""Visit counters under load (PostgreSQL): a busy writer keeps what events add to a visit apart
in ``visit_counts`` and writes it to the visit later, and no count is lost or doubled on the
way: not by a visit's end, not by a second process, not by a writer that is gone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from leadline.config import Settings
from leadline.kit.time import utcnow
from leadline.tracking import counts, engagement
from leadline.tracking import prepare as tracking
from leadline.tracking.schemas import VisitEnd, VisitStart
from leadline.tracking.writer import TrackingWriter
from tests.fixtures.factories import fetch_rows, make_site
from tests.fixtures.waiting import eventually
from tests.tracking.scores import assert_rollups_hold_the_visits
from tests.tracking.test_writer import (
    CLIENT,
    _events,
    _execute,
    _site,
    running,
    taken,
    writes_blocked,
)

# Every group defers (a test's groups hold one request), and nothing is written by the clock
# unless a test says so.
BUSY = {"defer_from": 1, "fold_after": 60.0}
# Another browser (cookieless visits are told apart by IP address and user agent).
OTHER_CLIENT = tracking.Client(
    ip="203.0.113.10", user_agent=CLIENT.user_agent, origin_host="shop.example"
)


@contextlib.contextmanager
def visit_rows_held(settings: Settings) -> Iterator[None]:
    """Hold the visits' table so that no row of it can be written (reads still can): what
    writes a visit's row waits until the test has looked."""
    import psycopg

    url = make_url(settings.sync_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(url) as connection:
        connection.execute("LOCK TABLE visits IN EXCLUSIVE MODE")
        yield
        connection.rollback()


@pytest.fixture
def postgresql_only(settings: Settings) -> None:
    if settings.is_sqlite:
        pytest.skip("the writer keeps counts apart on PostgreSQL only")


on_postgresql = pytest.mark.usefixtures("postgresql_only")


def _visit(settings: Settings, visit_id: str) -> dict[str, Any]:
    (row,) = fetch_rows(
        settings,
        "SELECT events, page_views, clicks, max_scroll, duration_ms, earlier_visits,"
        " engagement_score, engagement_label, revision FROM visits WHERE id = :id",
        id=visit_id,
    )
    return row


def _kept_apart(settings: Settings) -> dict[str, counts.Added]:
    rows = fetch_rows(settings, "SELECT counts FROM visit_counts")
    return counts.read_counts(row["counts"] for row in rows)


def _stored(settings: Settings, visit_id: str) -> int:
    (row,) = fetch_rows(
        settings, "SELECT count(*) AS n FROM events WHERE visit_id = :id", id=visit_id
    )
    return int(row["n"])


@on_postgresql
def test_a_busy_writer_keeps_counts_apart_then_writes_them(settings: Settings) -> None:
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> tuple[TrackingWriter, str, dict[str, Any], Any]:
        async with running(
            settings.sync_url, capacity=1_000, defer_from=1, fold_after=0.5
        ) as writer:
            visit = await writer.submit(
                tracking.prepare_start(site, VisitStart(siteKey="k"), CLIENT, "s", utcnow())
            )
            # The fold is due half a second after the counts are kept apart, however long
            # the checks below take on a busy machine: it waits for the visit's row until
            # they are done. The group keeping them apart does not write that row.
            with visit_rows_held(settings):
                answer = await writer.submit(_events(site, visit.visit_id, 3, "a"))
                before = _visit(settings, visit.visit_id)
                kept = _kept_apart(settings)
                assert writer.pending_visits == 1
                assert kept[visit.visit_id].events == 3
            await eventually(
                lambda: not (_kept_apart(settings) or writer.pending_visits),
                "the counts kept apart are written",
                every=0.05,
            )
            return writer, visit.visit_id, before, answer

    writer, visit_id, before, answer = asyncio.run(scenario())
    assert answer.extra == {"accepted": 3}
    assert (before["events"], before["clicks"]) == (0, 0)  # the visit's row waited
    assert writer.deferred_groups >= 1
    assert writer.folds == 1
    row = _visit(settings, visit_id)
    assert (row["events"], row["clicks"]) == (3, 3)
    assert row["revision"] == before["revision"] + 1
    score, label = engagement.engagement(
        row["duration_ms"], row["max_scroll"], row["clicks"], row["earlier_visits"]
    )
    assert (row["engagement_score"], row["engagement_label"]) == (score, label)
    # Scored as of its latest event, not when the fold wrote it (half a second or more later).
    (times,) = fetch_rows(
        settings, "SELECT started_at, last_seen_at FROM visits WHERE id = :id", id=visit_id
    )
    elapsed = times["last_seen_at"] - times["started_at"]
    assert row["duration_ms"] == int(elapsed.total_seconds() * 1000)
    assert _stored(settings, visit_id) == 3
    # The visit moved between the rollups' scores when its row was written.
    assert_rollups_hold_the_visits(settings)


@on_postgresql
def test_once_counts_wait_a_small_group_keeps_its_own_apart_too(settings: Settings) -> None:
    """A small group writes its visits at once while nothing waits; once a large group has
    kept counts apart, a small one keeps its own apart too (it does not write every waiting
    visit), and stopping the writer writes them all."""
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> tuple[TrackingWriter, str, int, dict[str, counts.Added]]:
        async with running(
            settings.sync_url, capacity=1_000, defer_from=3, fold_after=60.0
        ) as writer:
            visit = await writer.submit(
                tracking.prepare_start(site, VisitStart(siteKey="k"), CLIENT, "s", utcnow())
            )
            visit_id = visit.visit_id
            await writer.submit(_events(site, visit_id, 1, "alone"))
            assert writer.pending_visits == 0
            assert _visit(settings, visit_id)["events"] == 1
            with writes_blocked(settings):
                # The first request is taken and waits for the lock; the burst queues behind
                # it and is taken as one group of three.
                first = asyncio.create_task(writer.submit(_events(site, visit_id, 1, "f")))
                await taken(writer, of=1)
                burst = [
                    asyncio.create_task(writer.submit(_events(site, visit_id, 2, f"b{i}")))
                    for i in range(3)
                ]
                await asyncio.sleep(0)  # each task queues its batch before this returns
                assert writer.waiting == 6
            await asyncio.gather(first, *burst)
            assert writer.pending_visits == 1
            deferred = writer.deferred_groups
            await writer.submit(_events(site, visit_id, 1, "small"))
            assert writer.deferred_groups == deferred + 1
            assert writer.folds == 0
            return writer, visit_id, _visit(settings, visit_id)["events"], _kept_apart(settings)

    writer, visit_id, events_then, kept = asyncio.run(scenario())
    assert events_then == 2  # "alone" and "f", each written by a group of one
    assert kept[visit_id].events == 7
    assert writer.folds == 1  # on stopping
    assert _visit(settings, visit_id)["events"] == 9 == _stored(settings, visit_id)
    assert _kept_apart(settings) == {}


@on_postgresql
def test_an_end_writes_its_visit_with_what_was_kept_apart(settings: Settings) -> None:
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> tuple[TrackingWriter, str, Any, dict[str, counts.Added]]:
        async with running(settings.sync_url, capacity=1_000, **BUSY) as writer:
            visit = await writer.submit(
                tracking.prepare_start(site, VisitStart(siteKey="k"), CLIENT, "s", utcnow())
            )
            await writer.submit(_events(site, visit.visit_id, 2, "a"))
            await writer.submit(_events(site, visit.visit_id, 3, "b"))
            assert writer.pending_visits == 1
            end = VisitEnd(siteKey="k", sessionId=visit.visit_id, maxScroll=50)
            ended = await writer.submit(tracking.prepare_end(site, end, CLIENT))
            assert writer.pending_visits == 0
            return writer, visit.visit_id, ended, _kept_apart(settings)

    writer, visit_id, ended, kept = asyncio.run(scenario())
    row = _visit(settings, visit_id)
    assert (row["events"], row["clicks"], row["max_scroll"]) == (5, 5, 50)
    assert ended.extra["engagement_score"] == row["engagement_score"]
    # The rows kept apart were deleted with the end, which wrote all they held.
    assert kept == {}
    assert writer.folds == 0


@on_postgresql
def test_a_visit_written_while_others_wait_is_taken_back_out_of_the_rows(
    settings: Settings,
) -> None:
    """Two visits wait; one ends. Its row is written with what waited for it, and the writer's
    rows of visit_counts take that back (the other visit's counts still wait), so that adding
    every row to the visits, as a writer that finds them orphaned does, counts nothing twice."""
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> tuple[str, str, dict[str, counts.Added], dict[str, counts.Added]]:
        async with running(settings.sync_url, capacity=1_000, **BUSY) as writer:
            first, second = [
                await writer.submit(
                    tracking.prepare_start(site, VisitStart(siteKey="k"), client, "s", utcnow())
                )
                for client in (CLIENT, OTHER_CLIENT)
            ]
            assert first.visit_id != second.visit_id
            await writer.submit(_events(site, first.visit_id, 2, "a"))
            await writer.submit(_events(site, second.visit_id, 4, "b"))
            end = VisitEnd(siteKey="k", sessionId=first.visit_id)
            await writer.submit(tracking.prepare_end(site, end, CLIENT))
            kept = _kept_apart(settings)
            assert writer.pending_visits == 1
            return first.visit_id, second.visit_id, kept, _kept_apart(settings)

    first, second, kept, _ = asyncio.run(scenario())
    assert (kept[first].events, kept[first].clicks) == (0, 0)
    assert (kept[second].events, kept[second].clicks) == (4, 4)
    # The writer stopped: what waited was written, and its rows deleted.
    assert _kept_apart(settings) == {}
    assert _visit(settings, first)["events"] == 2
    assert _visit(settings, second)["events"] == 4


@on_postgresql
def test_two_busy_writers_count_one_visit_exactly(settings: Settings) -> None:
    """Two processes count events of one visit, each keeping its own apart, and one of them
    ends it: each adds what it kept to what the visit's row holds when it writes it."""
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> tuple[TrackingWriter, TrackingWriter, str]:
        async with (
            running(settings.sync_url, capacity=1_000, **BUSY) as first,
            running(settings.sync_url, capacity=1_000, **BUSY) as second,
        ):
            visit = await first.submit(
                tracking.prepare_start(site, VisitStart(siteKey="k"), CLIENT, "s", utcnow())
            )
            visit_id = visit.visit_id
            await first.submit(_events(site, visit_id, 2, "a"))
            await second.submit(_events(site, visit_id, 3, "b"))
            await first.submit(_events(site, visit_id, 4, "c"))
            end = VisitEnd(siteKey="k", sessionId=visit_id, maxScroll=30)
            await second.submit(tracking.prepare_end(site, end, CLIENT))
            await first.submit(_events(site, visit_id, 1, "d"))
            await second.submit(_events(site, visit_id, 5, "e"))
            return first, second, visit_id

    first, second, visit_id = asyncio.run(scenario())
    row = _visit(settings, visit_id)
    assert (row["events"], row["clicks"], row["max_scroll"]) == (15, 15, 30)
    assert _stored(settings, visit_id) == 15
    assert _kept_apart(settings) == {}
    assert first.stale_groups + second.stale_groups >= 1
    assert_rollups_hold_the_visits(settings)


@on_postgresql
def test_what_a_writer_that_is_gone_kept_apart_is_added_to_its_visits(
    settings: Settings,
) -> None:
    """A writer's connection ends (its process died) while counts wait: the next writer to
    start finds the rows, whose writer's lock is free, and adds them to their visits."""
    site = _site(settings, make_site(settings, "acme", "shop.example"))

    async def scenario() -> tuple[str, TrackingWriter]:
        async with running(settings.sync_url, capacity=1_000, **BUSY) as gone:
            visit = await gone.submit(
                tracking.prepare_start(site, VisitStart(siteKey="k"), CLIENT, "s", utcnow())
            )
            await gone.submit(_events(site, visit.visit_id, 3, "a"))
            await gone.submit(_events(site, visit.visit_id, 2, "b"))
            assert gone._store is not None
            backend = gone._store.connection.info.backend_pid
            _execute(settings, "SELECT pg_terminate_backend(:pid)", pid=backend)
            await eventually(
                lambda: (
                    not fetch_rows(
                        settings, "SELECT pid FROM pg_stat_activity WHERE pid = :pid", pid=backend
                    )
                ),
                "the writer's connection ends",
                every=0.05,
            )
            assert _visit(settings, visit.visit_id)["events"] == 0
            async with running(settings.sync_url, capacity=1_000) as next_writer:
                await eventually(
                    lambda: _visit(settings, visit.visit_id)["events"] == 5,
                    "the orphaned counts are added",
                    every=0.05,
                )
            return visit.visit_id, next_writer

    visit_id, next_writer = asyncio.run(scenario())
    assert next_writer.orphan_rows == 2
    row = _visit(settings, visit_id)
    assert (row["events"], row["clicks"]) == (5, 5)
    assert _kept_apart(settings) == {}
    assert_rollups_hold_the_visits(settings)


@on_postgresql
def test_the_orphan_check_takes_gone_writers_rows_on_either_side_of_its_own_key(
    settings: Settings,
) -> None:
    """Rows of writers that are gone, keyed below and above the checking writer's own key, are
    taken; its own rows and a live writer's stay. With only its own rows there, it takes none."""
    import psycopg

    from leadline.tracking.store import open_store
    from leadline.tracking.store_postgres import _WRITER_LOCKS, PostgresStore

    store = open_store(settings.sync_url)
    assert isinstance(store, PostgresStore)
    own = store.writer_key
    live, gone_low, gone_high = -2, -1, 2**31 - 1
    assume = own != gone_high  # keys are drawn from 1 to 2**31 - 1
    other = psycopg.connect(store.connection.info.dsn, autocommit=True)
    try:
        other.execute("SELECT pg_advisory_lock(%s, %s)", (_WRITER_LOCKS, live))

        def add(writer: int, counts: str) -> None:
            _execute(
                settings,
                "INSERT INTO visit_counts (writer, counts, created_at)"
                " VALUES (:writer, :counts, :at)",
                writer=writer,
                counts=counts,
                at=utcnow(),
            )

        def take() -> list[str]:
            store.begin()
            texts = store.take_orphan_counts()
            store.commit()
            return sorted(texts)

        for n in range(3):
            add(own, f"own {n}")
        assert take() == []
        # A gone writer's rows on each side of the own key alone, then with a live writer's.
        add(gone_low, "gone below")
        assert take() == ["gone below"]
        if assume:
            add(gone_high, "gone above")
            assert take() == ["gone above"]
            add(gone_high, "gone above again")
        add(live, "live")
        add(gone_low, "gone below again")
        assert take() == (["gone above again"] if assume else []) + ["gone below again"]
        remaining = fetch_rows(settings, "SELECT counts FROM visit_counts ORDER BY counts")
        assert [row["counts"] for row in remaining] == ["live", "own 0", "own 1", "own 2"]
        assert take() == []
    finally:
        other.close()
        store.close()


def test_counts_kept_apart_add_up_and_take_back() -> None:
    seen = datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC)
    later = datetime(2026, 12, 3, 12, 0, 5, tzinfo=UTC)
    first = counts.Added(3, 1, 2, 40, seen)
    second = counts.Added(2, 0, 2, 20, later)
    text = counts.counts_json(
        [("v1", first), ("v2", second), ("v1", counts.Added(1, 1, 0, 70, later))]
    )
    sums = counts.read_counts([text, counts.counts_json([("v1", first.undone())])])
    assert sums["v1"] == counts.Added(1, 1, 0, 70, later)
    assert sums["v2"] == second
