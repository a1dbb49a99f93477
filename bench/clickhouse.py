"""ClickHouse benchmark: the tracking writer's groups with the events going to ClickHouse
against the SQL database alone, and the traffic reports read from ClickHouse (its hourly
aggregates, and the raw rows at a period's edges) at a chosen number of events.

    .venv/bin/python bench/clickhouse.py --backend both --events 10000000

Two parts, in process (no HTTP), for each SQL backend asked for (a SQLite file in a temporary
directory; the PostgreSQL database ``leadline_bench_clickhouse``, dropped afterwards):

- **ingest**: groups of ``--group`` requests of ``--batch`` events each (one remembered visit
  per request), applied and committed as the writer does (``apply_group``), first on the SQL
  database alone, then with ClickHouse keeping the events (``ClickHouseStore``: one lookup of
  the group's event ids and one synchronous insert, acknowledged, before each commit). Prints
  events per second and the p50/p95 of a group's time.
- **reports** (once, not per backend): ``--events`` events and an eighth as many visits over
  90 days on three sites, generated inside ClickHouse (``INSERT ... SELECT ... FROM
  numbers()``; the hourly aggregates' views count them as they go in), then each report
  that reads ClickHouse (overview, sessions/daily, pages/top, geo, sources, realtime) asked
  ``--requests`` times for the last 30 days in ``Europe/Amsterdam`` (all over), and
  sessions/daily and overview for the last 30 days up to today in ``America/New_York``;
  prints the first request's time (it keeps the zone's visitor days) and p50/p95 in
  milliseconds. The parts of a report kept in the SQL database (engagement and bounces,
  leads, the kept visitor days) are an empty SQLite database at first.

ClickHouse is chDB in this process unless ``--clickhouse-url`` names a server (``http://...``,
whose database is emptied first). See bench/README.md and docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import drop_database, fresh_database  # noqa: E402
from bench.ingest import EVENT, HEADERS, bench_site, leadline_env  # noqa: E402

PG_DATABASE = "leadline_bench_clickhouse"
SITES = ("site_bench_a", "site_bench_b", "site_bench_c")
WORKSPACE = "ws_bench"
DAYS = 90
PATHS = 300
END = datetime(2026, 12, 1, tzinfo=UTC)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


# ---------------------------------------------------------------------------- ingest


def ingest(url: str, clickhouse_url: str | None, site_key: str, args: Any) -> dict[str, float]:
    from leadline.clickhouse.client import open_clickhouse
    from leadline.clickhouse.schema import ensure_tables
    from leadline.config import Settings
    from leadline.db import Database
    from leadline.kit.time import utcnow
    from leadline.sites.service import site_by_key
    from leadline.tracking.groups import VisitCache, apply_group
    from leadline.tracking.prepare import Client, ServerIds, prepare_events, prepare_start
    from leadline.tracking.schemas import EventIn, VisitStart
    from leadline.tracking.store import TrackingStore, open_store
    from leadline.tracking.store_clickhouse import ClickHouseStore

    settings = Settings(database_url=url)

    async def find() -> Any:
        database = Database(settings)
        try:
            async with database.transaction() as session:
                return await site_by_key(session, site_key)
        finally:
            await database.dispose()

    site = asyncio.run(find())
    store: TrackingStore = open_store(settings.sync_url)
    if clickhouse_url is not None:
        clickhouse = open_clickhouse(clickhouse_url)
        ensure_tables(clickhouse)
        store = ClickHouseStore(store, clickhouse)
    cache = VisitCache()
    try:
        starts = [
            prepare_start(
                site,
                VisitStart(siteKey=site_key),
                Client(f"10.1.{n // 250}.{n % 250 + 1}", HEADERS["User-Agent"], "bench.example"),
                "s",
                utcnow(),
            )
            for n in range(args.group)
        ]
        store.begin()
        started = apply_group(store, starts, utcnow(), cache)
        store.commit()
        cache.keep(started.visits)
        visit_ids = [answer.visit_id for answer in started.answers]  # type: ignore[union-attr]
        client = Client("127.0.0.1", HEADERS["User-Agent"], "bench.example")
        ids = ServerIds()
        events = [EventIn(type="page_view", url=str(EVENT["url"])) for _ in range(args.batch)]
        times: list[float] = []
        began = time.perf_counter()
        for _ in range(args.groups):
            now = utcnow()
            works = [prepare_events(site, v, events, client, now) for v in visit_ids]
            for work in works:
                work.name_events(ids)
            start = time.perf_counter()
            store.begin()
            result = apply_group(store, works, now, cache)
            store.commit()
            cache.keep(result.visits)
            times.append(time.perf_counter() - start)
        elapsed = time.perf_counter() - began
    finally:
        store.close()
    total = args.groups * args.group * args.batch
    return {
        "events/s": total / sum(times),
        "p50 ms": statistics.median(times) * 1000,
        "p95 ms": percentile(times, 0.95) * 1000,
        "wall s": elapsed,
    }


# ---------------------------------------------------------------------------- reports


def load(clickhouse: Any, events: int) -> float:
    """Generate ``events`` events and events/8 visits inside ClickHouse; returns seconds."""
    visits = max(1, events // 8)
    span_ms = DAYS * 86_400_000
    end_ms = int(END.timestamp() * 1000)
    sites = "['site_bench_a', 'site_bench_b', 'site_bench_c']"
    channels = "['direct', 'search', 'social', 'referral', 'paid']"
    sources = "['(direct)', 'www.google.com', 'newsletter', 'www.facebook.com']"
    countries = "['NL', 'BE', 'DE', 'GB', 'US', 'FR']"
    referrers = "['www.google.com', 'www.facebook.com', 'news.example.org']"
    # A visit's start: spread evenly over the days; its events 20 s apart from its start.
    begins = f"toInt64({end_ms} - {span_ms} + intDiv(v * {span_ms}, {visits}))"
    started = time.perf_counter()
    clickhouse.command(
        "INSERT INTO visits (id, workspace_id, site_id, visitor_id, started_at, bot,"
        " channel, source, country, referrer, platform)"
        f" WITH number AS v SELECT concat('v', toString(v)), 'ws_bench', {sites}[v % 3 + 1],"
        " concat('u', toString(intDiv(v * 5, 8))),"
        f" fromUnixTimestamp64Milli({begins}, 'UTC'), toUInt8(v % 50 = 0),"
        f" {channels}[cityHash64(v) % 5 + 1], {sources}[cityHash64(v, 1) % 4 + 1],"
        f" {countries}[cityHash64(v, 2) % 6 + 1], {referrers}[cityHash64(v, 3) % 3 + 1],"
        " if(v % 10 = 0, 'googleads', '')"
        f" FROM numbers({visits})"
    )
    clickhouse.command(
        "INSERT INTO events (workspace_id, site_id, visit_id, client_id, type, occurred_at,"
        " received_at, url, path, data, bot)"
        f" WITH intDiv(number, 8) AS v, number % 8 < 3 AS viewed,"
        f" fromUnixTimestamp64Milli({begins} + (number % 8) * 20000, 'UTC') AS at,"
        f" concat('/p', toString(cityHash64(number) % {PATHS})) AS page"
        f" SELECT 'ws_bench', {sites}[v % 3 + 1], concat('v', toString(v)), toString(number),"
        " if(viewed, 'page_view', 'click'), at, at, concat('https://bench.example', page),"
        " if(viewed, page, ''), '{}', toUInt8(v % 50 = 0)"
        f" FROM numbers({events})"
    )
    return time.perf_counter() - started


def reports(clickhouse: Any, requests: int, workdir: Path) -> dict[str, tuple[float, float, float]]:
    from leadline.analytics import traffic
    from leadline.analytics.query import ReportQuery
    from leadline.config import Settings
    from leadline.db import Database
    from leadline.kit.periods import Period
    from leadline.migrations import upgrade

    url = f"sqlite:///{workdir / 'reports.db'}"
    settings = Settings(database_url=url)
    upgrade(settings)
    _workspace_and_sites(url)
    last = (END - timedelta(days=1)).date()
    now = END - timedelta(minutes=3)
    query = ReportQuery(
        workspace_id=WORKSPACE,
        site_ids=SITES,
        period=Period(last - timedelta(days=29), last, ZoneInfo("Europe/Amsterdam")),
        now=now,
        role="admin",
        pages=("overview",),
    )
    # The last 30 days up to today in New York, where ``now`` is 18:57 on the last day:
    # today's 19 hours are counted on each request.
    new_york = ZoneInfo("America/New_York")
    today = now.astimezone(new_york).date()
    to_today = ReportQuery(
        workspace_id=WORKSPACE,
        site_ids=SITES,
        period=Period(today - timedelta(days=29), today, new_york),
        now=now,
        role="admin",
        pages=("overview",),
    )
    routes: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "overview": lambda s: traffic.overview(s, query, None, clickhouse),
        "sessions/daily": lambda s: traffic.daily(s, query, None, clickhouse),
        "pages/top": lambda s: traffic.top_pages(s, query, 10, None, clickhouse),
        "geo": lambda s: traffic.geo(s, query, 10, None, clickhouse),
        "sources": lambda s: traffic.sources(s, query, 10, None, clickhouse),
        "realtime": lambda s: traffic.realtime(s, query, None, clickhouse),
        "sessions/daily, to today": lambda s: traffic.daily(s, to_today, None, clickhouse),
        "overview, to today": lambda s: traffic.overview(s, to_today, None, clickhouse),
    }

    async def measure() -> dict[str, tuple[float, float, float]]:
        database = Database(settings)
        found: dict[str, tuple[float, float, float]] = {}
        try:
            for name, route in routes.items():
                times = []
                for n in range(requests + 2):
                    async with database.transaction() as session:
                        start = time.perf_counter()
                        await route(session)
                        took = (time.perf_counter() - start) * 1000
                    if n == 0:
                        first = took
                    if n >= 2:  # two warm-ups
                        times.append(took)
                found[name] = (first, statistics.median(times), percentile(times, 0.95))
        finally:
            await database.dispose()
        return found

    return asyncio.run(measure())


def _workspace_and_sites(url: str) -> None:
    """The bench's workspace and sites in the SQL database (the kept visitor days name them)."""
    from sqlalchemy import create_engine, insert

    from leadline.models import Site, Workspace

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(Workspace), [{"id": WORKSPACE, "slug": "bench", "name": "Bench"}]
            )
            connection.execute(
                insert(Site),
                [
                    {"id": site, "workspace_id": WORKSPACE, "name": site, "site_key": site}
                    for site in SITES
                ],
            )
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--events", type=int, default=1_000_000, help="events for the reports")
    parser.add_argument("--requests", type=int, default=20, help="requests per report")
    parser.add_argument("--group", type=int, default=30, help="requests per writer group")
    parser.add_argument("--batch", type=int, default=10, help="events per request")
    parser.add_argument("--groups", type=int, default=200, help="groups per ingest run")
    parser.add_argument("--clickhouse-url", default=None, help="a server; else chDB in process")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-reports", action="store_true")
    args = parser.parse_args(argv)
    from leadline.clickhouse import hourly
    from leadline.clickhouse.client import open_clickhouse
    from leadline.clickhouse.schema import ensure_tables

    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        base = args.clickhouse_url or f"chdb://{workdir / 'clickhouse'}"
        if not args.skip_ingest:
            print("\n## ingest: writer groups, applied and committed\n")
            print(f"groups of {args.group} requests x {args.batch} events, {args.groups} groups\n")
            print("| database | events to | events/s | group p50 ms | group p95 ms |")
            print("|---|---|---:|---:|---:|")
            for backend in backends:
                url = fresh_database(backend, workdir, PG_DATABASE)
                env = leadline_env(url, LEADLINE_TRACKING_WHITELIST_IPS="127.0.0.1")
                try:
                    site_key = bench_site(env)
                    os.environ.update(env)
                    for target in ("SQL", "ClickHouse"):
                        ch = None
                        if target == "ClickHouse":
                            ch = _database_url(base, f"ingest_{uuid.uuid4().hex[:8]}")
                        found = ingest(url, ch, site_key, args)
                        print(
                            f"| {backend} | {target} | {found['events/s']:,.0f} |"
                            f" {found['p50 ms']:.1f} | {found['p95 ms']:.1f} |"
                        )
                finally:
                    drop_database(backend, PG_DATABASE)
        if not args.skip_reports:
            clickhouse = open_clickhouse(_database_url(base, "reports"))
            hourly.drop(clickhouse)
            clickhouse.command("DROP TABLE IF EXISTS events")
            clickhouse.command("DROP TABLE IF EXISTS visits")
            ensure_tables(clickhouse)
            seconds = load(clickhouse, args.events)
            ((stored,),) = clickhouse.query("SELECT count() FROM events")
            print(f"\n## reports: {stored:,} events loaded in {seconds:.1f} s\n")
            print("| `GET /analytics/...` | first ms | p50 ms | p95 ms |")
            print("|---|---:|---:|---:|")
            for name, (first, p50, p95) in reports(clickhouse, args.requests, workdir).items():
                print(f"| `{name}` | {first:.1f} | {p50:.1f} | {p95:.1f} |")
            clickhouse.close()


def _database_url(base: str, name: str) -> str:
    if base.startswith("chdb:"):
        return f"{base.split('?')[0]}?database={name}"
    return (
        f"{base.rstrip('/').rsplit('/', 1)[0]}/{name}" if base.count("/") > 2 else f"{base}/{name}"
    )


if __name__ == "__main__":
    main()
