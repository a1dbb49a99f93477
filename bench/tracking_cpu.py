"""CPU time of the tracking work itself, in process, without HTTP: what a single event costs the
request path and the writer, apart from the server, the network and the other processes.

    .venv/bin/python bench/tracking_cpu.py --backend both

bench/ingest.py measures the whole path over loopback, where the machine's neighbours move every
rate by a quarter between runs; the figures here move by a few per cent, so a change to the
tracking code shows here first. For each backend (a SQLite file in a temporary directory; the
PostgreSQL database ``leadline_bench_cpu``, dropped afterwards) it prints, in microseconds:

- the request path: ``POST /track/event`` through the app's ASGI entry, with the writer answering
  at once, against ``POST /bench/noop`` through the middleware stack and router;
- the writer: groups of ``--group`` single events, one per remembered visit, applied and
  committed, per event, as the CPU time of its thread (the driver's and the kernel's part of the
  round trip included, the database server's not).

See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import drop_database, fresh_database  # noqa: E402
from bench.ingest import EVENT, HEADERS, bench_site, leadline_env  # noqa: E402

PG_DATABASE = "leadline_bench_cpu"


def best_of(rounds: int, run: Callable[[], float]) -> float:
    """The least of ``rounds`` measurements: the one the machine disturbed least."""
    return min(run() for _ in range(rounds))


def request_path(site_key: str, visit_id: str, requests: int, rounds: int) -> dict[str, float]:
    import msgspec

    from bench.ingest_app import NOOP_PATH, app_factory
    from leadline.tracking.prepare import VisitAnswer

    app = app_factory()
    body = msgspec.json.encode({"siteKey": site_key, "sessionId": visit_id, **EVENT})
    headers = [(name.lower().encode(), value.encode()) for name, value in HEADERS.items()]
    headers.append((b"content-length", str(len(body)).encode()))

    async def measure() -> dict[str, float]:
        async with app.router.lifespan_context(app) as state:
            writer = app.tracking.writer  # type: ignore[attr-defined]

            async def answered(work: Any) -> Any:
                # What the writer's submit does on the event loop before it queues the work.
                if work.unnamed:
                    work.name_events(writer.event_ids)
                return VisitAnswer(work.visit_id, "visitor", 0, {"accepted": 1})

            writer.submit = answered
            statuses: list[int] = []

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            async def timed(path: str) -> float:
                scope = {
                    "type": "http",
                    "asgi": {"version": "3.0"},
                    "http_version": "1.1",
                    "method": "POST",
                    "scheme": "http",
                    "path": path,
                    "raw_path": path.encode(),
                    "query_string": b"",
                    "root_path": "",
                    "headers": headers,
                    "client": ("127.0.0.1", 40000),
                    "server": ("127.0.0.1", 8000),
                }
                started = time.process_time()
                for _ in range(requests):
                    await app({**scope, "state": dict(state)}, receive, send)  # type: ignore[arg-type]
                return (time.process_time() - started) / requests * 1e6

            figures = {}
            for name, path in (("no-op route", NOOP_PATH), ("POST /track/event", "/track/event")):
                statuses.clear()
                figures[name] = min([await timed(path) for _ in range(rounds)])
                if set(statuses) - {200, 204}:
                    raise RuntimeError(f"{path} answered {sorted(set(statuses))}")
            return figures

    return asyncio.run(measure())


def writer(
    url: str,
    site_key: str,
    group: int,
    groups: int,
    rounds: int,
    defer: bool = False,
    moving: bool = False,
) -> float:
    """CPU per event of groups of single events applied and committed; with ``defer``, groups
    that keep what they add apart instead of writing their visits (PostgreSQL under load).
    With ``moving``, every event moves its visit to another engagement score (the clicks the
    writer remembers go back every other group, so a click scores one point more or less than
    the row holds; a visit per event, at ten different scores): 20 more rows in each of the
    daily and the hourly rollups per group."""
    from leadline.config import Settings
    from leadline.db import Database
    from leadline.kit.time import utcnow
    from leadline.sites.service import site_by_key
    from leadline.tracking.groups import VisitCache, apply_group
    from leadline.tracking.prepare import Client, ServerIds, prepare_events, prepare_start
    from leadline.tracking.schemas import EventIn, VisitStart
    from leadline.tracking.store import open_store

    settings = Settings(database_url=url)

    async def find() -> Any:
        database = Database(settings)
        try:
            async with database.transaction() as session:
                return await site_by_key(session, site_key)
        finally:
            await database.dispose()

    site = asyncio.run(find())
    client = Client("127.0.0.1", HEADERS["User-Agent"], "bench.example")
    store = open_store(settings.sync_url)
    cache = VisitCache()
    try:
        # The same browser resumes one visit; ``moving`` needs a visit per event of a group,
        # so each of its starts comes from another address.
        starts = [
            prepare_start(
                site,
                VisitStart(siteKey=site_key),
                Client(f"10.0.{n // 250}.{n % 250 + 1}", client.user_agent, client.origin_host)
                if moving
                else client,
                "s",
                utcnow(),
            )
            for n in range(group)
        ]
        store.begin()
        started = apply_group(store, starts, utcnow(), cache)
        store.commit()
        cache.keep(started.visits)
        visit_ids = [answer.visit_id for answer in started.answers]  # type: ignore[union-attr]
        event_ids = ServerIds()
        event = EventIn(type="click", url=str(EVENT["url"]))

        def works() -> list[Any]:
            now = utcnow()
            prepared = [
                prepare_events(site, visit_id, [event], client, now) for visit_id in visit_ids
            ]
            for work in prepared:
                work.name_events(event_ids)  # as the writer's submit does
            return prepared

        def applied() -> float:
            batches = [works() for _ in range(groups)]
            started = time.thread_time()
            for index, batch in enumerate(batches):
                if moving and index % 2 == 0:
                    for n, visit_id in enumerate(visit_ids):
                        remembered = cache.get(visit_id)
                        if remembered is not None:
                            # Old and new scores never the same: nothing cancels out.
                            remembered.clicks = 2 * (n % 10)
                store.begin()
                result = apply_group(store, batch, utcnow(), cache, defer=defer)
                store.commit()
                cache.keep(result.visits)
            return (time.thread_time() - started) / (groups * group) * 1e6

        return best_of(rounds, applied)
    finally:
        store.close()


def starting(url: str, site_key: str, group: int, groups: int, rounds: int) -> tuple[float, float]:
    """CPU and wall time per visit start of groups of new visits (each from another address,
    so each is a new cookieless visitor's) applied and committed: what a visit costs the
    writer, its consent ledger entry included where the tree keeps one. The wall time holds
    the database's part too (its statements and the round trips), which the CPU time of the
    writer's thread does not; each is the least of ``rounds``."""
    from leadline.config import Settings
    from leadline.db import Database
    from leadline.kit.time import utcnow
    from leadline.sites.service import site_by_key
    from leadline.tracking.groups import VisitCache, apply_group
    from leadline.tracking.prepare import Client, prepare_start
    from leadline.tracking.schemas import Consent, VisitStart
    from leadline.tracking.store import open_store

    settings = Settings(database_url=url)

    async def find() -> Any:
        database = Database(settings)
        try:
            async with database.transaction() as session:
                return await site_by_key(session, site_key)
        finally:
            await database.dispose()

    site = asyncio.run(find())
    store = open_store(settings.sync_url)
    addresses = iter(range(1, 10**9))
    consent = Consent(ad_storage="denied", analytics_storage="denied", source="tcf")

    def client() -> Client:
        n = next(addresses)
        return Client(
            f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", HEADERS["User-Agent"], "bench.example"
        )

    try:

        def applied() -> tuple[float, float]:
            now = utcnow()
            batches = [
                [
                    prepare_start(
                        site, VisitStart(siteKey=site_key, consent=consent), client(), "s", now
                    )
                    for _ in range(group)
                ]
                for _ in range(groups)
            ]
            started, clock = time.thread_time(), time.perf_counter()
            for batch in batches:
                store.begin()
                apply_group(store, batch, utcnow(), VisitCache())
                store.commit()
            cpu, wall = time.thread_time() - started, time.perf_counter() - clock
            return cpu / (groups * group) * 1e6, wall / (groups * group) * 1e6

        measured = [applied() for _ in range(rounds)]
        return min(cpu for cpu, _ in measured), min(wall for _, wall in measured)
    finally:
        store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--requests", type=int, default=20_000, help="requests per measurement")
    parser.add_argument("--group", type=int, default=30, help="single events per group")
    parser.add_argument("--groups", type=int, default=300, help="groups per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements; the least is shown")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as directory:
        for backend in backends:
            url = fresh_database(backend, Path(directory), PG_DATABASE)
            env = leadline_env(url, LEADLINE_TRACKING_WHITELIST_IPS="127.0.0.1")
            try:
                site_key = bench_site(env)
                os.environ.update(env)  # the app made in this process reads its settings there
                written = writer(url, site_key, args.group, args.groups, args.rounds)
                deferring = (
                    writer(url, site_key, args.group, args.groups, args.rounds, defer=True)
                    if backend == "postgresql"
                    else None
                )
                moving = writer(url, site_key, args.group, args.groups, args.rounds, moving=True)
                starts, starts_wall = starting(
                    url, site_key, args.group, max(1, args.groups // 3), args.rounds
                )
                path = request_path(
                    site_key, "00000000-0000-0000-0000-000000000000", args.requests, args.rounds
                )
            finally:
                if backend == "postgresql":
                    drop_database(backend, PG_DATABASE)
            print(f"\n## {backend}: CPU time, microseconds (least of {args.rounds})\n")
            print("| what | us |")
            print("|---|---:|")
            for name, value in path.items():
                print(f"| request path: {name}, per request | {value:.1f} |")
            print(
                "| request path: the tracking route's own work (difference) |"
                f" {path['POST /track/event'] - path['no-op route']:.1f} |"
            )
            print(
                f"| writer: groups of {args.group} single events applied and committed,"
                f" per event | {written:.1f} |"
            )
            if deferring is not None:
                print(
                    f"| writer: the same, each group keeping its counts apart (as under load),"
                    f" per event | {deferring:.1f} |"
                )
            print(
                "| writer: the same, every event moving its visit to another engagement score,"
                f" per event | {moving:.1f} |"
            )
            print(
                f"| writer: groups of {args.group} new visits started and committed,"
                f" per visit | {starts:.1f} |"
            )
            print(
                "| writer: the same, wall time per visit (the database's part included) |"
                f" {starts_wall:.1f} |"
            )


if __name__ == "__main__":
    main()
