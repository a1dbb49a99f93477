"""Analytics benchmark: load tracked visits, events and lead submissions over 90 days, then time
every ``GET /analytics/*`` report.

Run from the repository root, for example::

    .venv/bin/python bench/analytics.py --backend both --events 1000000

See bench/README.md for what it measures and docs/performance.md for recorded results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from alembic import command

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import batches, drop_database, fresh_database, sqlite_value  # noqa: E402
from bench.leads import percentile, serve  # noqa: E402
from leadline.audit.service import Actor  # noqa: E402
from leadline.auth.service import create_key  # noqa: E402
from leadline.config import Settings  # noqa: E402
from leadline.db import Database  # noqa: E402
from leadline.kit.ids import id_from  # noqa: E402
from leadline.migrations import alembic_config, upgrade  # noqa: E402
from leadline.sites import service as sites  # noqa: E402
from leadline.workspaces import service as workspaces  # noqa: E402

DATABASE = "leadline_bench_analytics"
# The schema the raw rows are loaded into: the revision before the submissions' rollups, whose
# migration then counts the loaded submissions as it would an upgraded install's. The tracking
# rollups are rebuilt from the loaded visits and events afterwards.
LOAD_REVISION = "d4a9b2c6e8f1"
AIM_MS = 100.0
SITES = ("www.shop.example", "blog.shop.example", "landing.shop.example")
# The share of the measured workspace's volume a second workspace gets (scoping is measured
# too: its rows sit in the same tables and indexes).
OTHER_SHARE = 0.05
EVENTS_PER_VISIT = 8
VISITS_PER_VISITOR = 1.6
SUBMISSION_RATE = 0.015
BOT_RATE = 0.02
PATHS = tuple(
    ["/", "/pricing", "/contact", "/demo", "/about", "/blog", "/offerte", "/jobs"]
    + [f"/blog/post-{n}" for n in range(60)]
    + [f"/products/item-{n}" for n in range(120)]
)
REFERRERS = (
    (None, 0.40),
    ("https://www.google.com/", 0.30),
    ("https://www.bing.com/", 0.04),
    ("https://www.facebook.com/", 0.08),
    ("https://www.linkedin.com/", 0.04),
    ("https://news.example.org/article", 0.08),
    ("https://t.co/abc", 0.02),
    ("https://duckduckgo.com/", 0.04),
)
COUNTRIES = (
    ("NL", 0.45),
    ("BE", 0.12),
    ("DE", 0.12),
    ("GB", 0.08),
    ("US", 0.08),
    ("FR", 0.05),
    ("ES", 0.03),
    ("IT", 0.03),
    ("PL", 0.02),
    ("SE", 0.02),
)
BROWSERS = (("Chrome", 0.6), ("Safari", 0.25), ("Firefox", 0.08), ("Edge", 0.07))
SYSTEMS = (("Windows", 0.35), ("macOS", 0.15), ("iOS", 0.25), ("Android", 0.2), ("Linux", 0.05))
DEVICES = (("desktop", 0.5), ("mobile", 0.45), ("tablet", 0.05))
CAMPAIGNS = tuple(f"campaign-{n:02d}" for n in range(20))
PROJECTS = ("", "renovation", "solar", "kitchen")
LABELS = ((0, "Cold"), (25, "Warm"), (50, "Hot"), (75, "On fire"))
# By hour of the day (UTC) and by weekday: how busy the site is relative to its peak.
HOURLY = tuple(0.15 + 0.85 * math.sin(math.pi * max(0, h - 5) / 19) ** 2 for h in range(24))
WEEKDAY = (1.0, 1.0, 0.97, 0.95, 0.85, 0.55, 0.5)

VISIT_COLUMNS = (
    "id",
    "workspace_id",
    "site_id",
    "visitor_id",
    "identified",
    "started_at",
    "last_seen_at",
    "ended_at",
    "referrer",
    "consent_source",
    "channel",
    "browser",
    "os",
    "device",
    "bot_reason",
    "country",
    "language",
    "screen",
    "page_views",
    "events",
    "clicks",
    "max_scroll",
    "duration_ms",
    "engagement_score",
    "engagement_label",
    "earlier_visits",
    "revision",
    "website",
    "path",
    "gclid",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "analytics_storage",
    "ad_storage",
    "ad_user_data",
)
EVENT_COLUMNS = (
    "workspace_id",
    "site_id",
    "visit_id",
    "client_id",
    "type",
    "occurred_at",
    "received_at",
    "url",
    "data",
)
SUBMISSION_COLUMNS = (
    "id",
    "workspace_id",
    "lead_id",
    "site_id",
    "form_id",
    "project",
    "visitor_id",
    "visit_id",
    "email",
    "phone_e164",
    "ip",
    "fields",
    "suspicion_score",
    "suspicion_reasons",
    "engagement_score",
    "engagement_label",
    "outcome",
    "created_at",
)
LEAD_COLUMNS = (
    "id",
    "workspace_id",
    "visit_id",
    "name",
    "email",
    "phone_e164",
    "status",
    "source",
    "website",
    "path",
    "gclid",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "created_at",
    "updated_at",
)


def _pick(rng: random.Random, weighted: tuple[tuple[Any, float], ...]) -> Any:
    roll = rng.random() * sum(weight for _, weight in weighted)
    for value, weight in weighted:
        roll -= weight
        if roll <= 0:
            return value
    return weighted[-1][0]


def _millis(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


@dataclass
class Plan:
    """What to generate for one workspace."""

    workspace_id: str
    site_ids: list[str]
    websites: list[str]
    events: int
    days: int
    end: datetime
    seed: int


def _visit_starts(rng: random.Random, plan: Plan, visits: int) -> list[datetime]:
    """``visits`` start times over the plan's days, busier in the day and on weekdays."""
    start = plan.end - timedelta(days=plan.days)
    hours = [start + timedelta(hours=n) for n in range(plan.days * 24)]
    weights = [HOURLY[h.hour] * WEEKDAY[h.weekday()] for h in hours]
    total = sum(weights)
    starts: list[datetime] = []
    for hour, weight in zip(hours, weights, strict=True):
        count = int(visits * weight / total + rng.random())
        starts.extend(hour + timedelta(seconds=rng.uniform(0, 3600)) for _ in range(count))
    starts.sort()
    return starts


def _channel(referrer: str | None, paid: bool) -> str:
    if paid:
        return "paid"
    if referrer is None:
        return "direct"
    if any(name in referrer for name in ("google", "bing", "duckduckgo")):
        return "search"
    if any(name in referrer for name in ("facebook", "linkedin", "t.co")):
        return "social"
    return "referral"


@dataclass
class Rows:
    visits: list[dict[str, Any]]
    submissions: list[dict[str, Any]]
    leads: list[dict[str, Any]]
    events: int


def generate(plan: Plan) -> tuple[Rows, Iterator[dict[str, Any]]]:
    """The plan's visits, submissions and leads (in memory), and its events (a generator, so
    ten million of them never sit in memory at once)."""
    rng = random.Random(plan.seed)
    starts = _visit_starts(rng, plan, max(1, plan.events // EVENTS_PER_VISIT))
    visitors = max(1, int(len(starts) / VISITS_PER_VISITOR))
    visits: list[dict[str, Any]] = []
    submissions: list[dict[str, Any]] = []
    leads: list[dict[str, Any]] = []
    for started in starts:
        site = rng.randrange(len(plan.site_ids))
        paid = rng.random() < 0.25
        referrer = _pick(rng, REFERRERS)
        bot = rng.random() < BOT_RATE
        page_views = 1 if rng.random() < 0.45 else rng.randint(2, 6)
        events = max(page_views, round(rng.uniform(page_views, 2 * EVENTS_PER_VISIT - 1)))
        duration = 0 if page_views == 1 else int(rng.expovariate(1 / 120_000))
        score = min(100, int(page_views * 8 + duration / 6000 + rng.uniform(0, 20)))
        label = [name for floor, name in LABELS if score >= floor][-1]
        visitor = f"v{plan.seed}-{rng.randrange(visitors)}"
        visit = {
            "id": id_from("vis", _millis(started), rng.getrandbits(80)),
            "workspace_id": plan.workspace_id,
            "site_id": plan.site_ids[site],
            "visitor_id": visitor,
            "identified": rng.random() < 0.6,
            "started_at": started,
            "last_seen_at": started + timedelta(milliseconds=duration),
            "ended_at": started + timedelta(milliseconds=duration),
            "referrer": referrer,
            "consent_source": "gcm",
            "channel": _channel(referrer, paid),
            "browser": _pick(rng, BROWSERS),
            "os": _pick(rng, SYSTEMS),
            "device": _pick(rng, DEVICES),
            "bot_reason": "user_agent" if bot else None,
            "country": _pick(rng, COUNTRIES),
            "language": "nl-NL",
            "screen": "1920x1080",
            "page_views": page_views,
            "events": events,
            "clicks": max(0, events - page_views - 1),
            "max_scroll": rng.randint(0, 100),
            "duration_ms": duration,
            "engagement_score": score,
            "engagement_label": label,
            "earlier_visits": 0,
            "revision": 1,
            "website": f"https://{plan.websites[site]}",
            "path": rng.choice(PATHS[:8]),
            "gclid": f"Cj0K{rng.getrandbits(64):x}" if paid and rng.random() < 0.7 else None,
            "utm_source": "google" if paid else None,
            "utm_medium": "cpc" if paid else None,
            "utm_campaign": rng.choice(CAMPAIGNS) if paid else None,
            "analytics_storage": True,
            "ad_storage": True,
            "ad_user_data": True,
        }
        visits.append(visit)
        if not bot and rng.random() < SUBMISSION_RATE:
            sent = visit["last_seen_at"]
            n = len(submissions)
            email = f"person{plan.seed}-{n}@example.org"
            lead_id = id_from("lead", _millis(sent), rng.getrandbits(80))
            submissions.append(
                {
                    "id": id_from("sub", _millis(sent), rng.getrandbits(80)),
                    "workspace_id": plan.workspace_id,
                    "lead_id": lead_id,
                    "site_id": visit["site_id"],
                    "form_id": "enquiry",
                    "project": rng.choice(PROJECTS),
                    "visitor_id": visitor,
                    "visit_id": visit["id"],
                    "email": email,
                    "phone_e164": f"+3161{rng.randrange(10**7):07d}",
                    "ip": f"203.0.113.{rng.randrange(256)}",
                    "fields": json.dumps({"EMAIL": email, "FIRSTNAME": f"Person {n}"}),
                    "suspicion_score": 0 if rng.random() < 0.9 else rng.randint(20, 80),
                    "suspicion_reasons": "[]",
                    "engagement_score": score,
                    "engagement_label": label,
                    "outcome": "created",
                    "created_at": sent,
                }
            )
            leads.append(
                {
                    "id": lead_id,
                    "workspace_id": plan.workspace_id,
                    "visit_id": visit["id"],
                    "name": f"Person {n}",
                    "email": email,
                    "phone_e164": submissions[-1]["phone_e164"],
                    "status": "open",
                    "source": "pulsegate",
                    "website": visit["website"],
                    "path": "/contact",
                    "gclid": visit["gclid"],
                    "utm_source": visit["utm_source"],
                    "utm_medium": visit["utm_medium"],
                    "utm_campaign": visit["utm_campaign"],
                    "created_at": sent,
                    "updated_at": sent,
                }
            )
    total = sum(visit["events"] for visit in visits)
    return Rows(visits, submissions, leads, total), _events(plan, visits)


def _events(plan: Plan, visits: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    rng = random.Random(plan.seed + 1000)
    for visit in visits:
        moment: datetime = visit["started_at"]
        step = timedelta(milliseconds=max(1, visit["duration_ms"]) / max(1, visit["events"]))
        for n in range(visit["events"]):
            kind = "page_view" if n < visit["page_views"] else rng.choice(("click", "scroll"))
            path = visit["path"] if n == 0 else rng.choice(PATHS)
            yield {
                "workspace_id": visit["workspace_id"],
                "site_id": visit["site_id"],
                "visit_id": visit["id"],
                "client_id": f"e{n}",
                "type": kind,
                "occurred_at": moment,
                "received_at": moment,
                "url": f"{visit['website']}{path}",
                "data": "{}",
            }
            moment += step


# ------------------------------------------------------------------------------ loading


def _columns(table: str, columns: tuple[str, ...], existing: set[str]) -> tuple[str, ...]:
    """The generated columns the table has (the schema decides, not this file)."""
    kept = tuple(column for column in columns if column in existing)
    missing = [column for column in columns if column not in existing]
    if missing and table != "visits":
        raise SystemExit(f"{table} has no column(s) {missing}: update bench/analytics.py")
    return kept


def _tables(rows: Rows, events: Iterator[dict[str, Any]]) -> list[tuple[str, tuple[str, ...], Any]]:
    return [
        ("visits", VISIT_COLUMNS, iter(rows.visits)),
        ("leads", LEAD_COLUMNS, iter(rows.leads)),
        ("lead_submissions", SUBMISSION_COLUMNS, iter(rows.submissions)),
        ("events", EVENT_COLUMNS, events),
    ]


def load_sqlite(path: str, plans: list[tuple[Rows, Iterator[dict[str, Any]]]]) -> int:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    loaded = 0
    for rows, events in plans:
        for table, wanted, source in _tables(rows, events):
            existing = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            columns = _columns(table, wanted, existing)
            marks = ", ".join("?" * len(columns))
            insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            for batch in batches(source, 50_000):
                conn.execute("BEGIN")
                conn.executemany(
                    insert, [tuple(sqlite_value(r[c]) for c in columns) for r in batch]
                )
                conn.execute("COMMIT")
                loaded += len(batch)
                if table == "events" and loaded % 1_000_000 < 50_000:
                    print(f"  ... {loaded:,} rows", flush=True)
    conn.execute("ANALYZE")
    conn.close()
    return loaded


def load_postgresql(url: str, plans: list[tuple[Rows, Iterator[dict[str, Any]]]]) -> int:
    import psycopg

    loaded = 0
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("SET synchronous_commit = off")
        for rows, events in plans:
            for table, wanted, source in _tables(rows, events):
                existing = {
                    row[0]
                    for row in conn.execute(
                        "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                        (table,),
                    )
                }
                columns = _columns(table, wanted, existing)
                with (
                    conn.cursor() as cur,
                    cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
                ):
                    for row in source:
                        copy.write_row(tuple(row[c] for c in columns))
                        loaded += 1
                        if table == "events" and loaded % 1_000_000 == 0:
                            print(f"  ... {loaded:,} rows", flush=True)
                conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return loaded


async def _setup(url: str) -> tuple[str, list[Plan], dict[str, str]]:
    """The workspaces, their sites and an admin key; the plans to load (without counts yet)."""
    db = Database(Settings(database_url=url))
    try:
        plans = []
        keys = {}
        async with db.transaction() as session:
            for slug, hosts in (("bench", SITES), ("bench-other", ("other.example",))):
                issued = await create_key(session, workspace_slug=slug, role="admin")
                keys[slug] = issued.token
                workspace = await workspaces.require(session, slug)
                site_ids = []
                for host in hosts:
                    site = await sites.add_site(
                        session, workspace.id, domains=[host], actor=Actor.cli(), name=host
                    )
                    site_ids.append(site.site.id)
                plans.append(Plan(workspace.id, site_ids, list(hosts), 0, 0, datetime.now(UTC), 0))
            marketing = await create_key(session, workspace_slug="bench", role="marketing")
            keys["marketing"] = marketing.token
        return keys["bench"], plans, keys
    finally:
        await db.dispose()


async def _rebuild(url: str, start: datetime, end: datetime) -> str:
    """Fill the rollups the reports read from the raw rows just loaded, as an upgrade from a
    version without them does."""
    from leadline.analytics import rebuild

    db = Database(Settings(database_url=url))
    try:
        return await rebuild.rebuild_all(db, start, end)
    finally:
        await db.dispose()


# ------------------------------------------------------------------------------ measuring


@dataclass
class Result:
    name: str
    query: str
    n: int
    p50: float
    p95: float
    errors: int
    status: int
    app: str = ""


def _load_average() -> str:
    """The machine's load averages (1, 5 and 15 minutes), as ``uptime`` shows them."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def routes(site_id: str, end: date) -> list[tuple[str, str, dict[str, str]]]:
    """What is timed: each report over the last 30 days, for the workspace (every site) and
    for one site, in a zone with daylight-saving time."""
    month = {
        "from": (end - timedelta(days=29)).isoformat(),
        "to": end.isoformat(),
        "tz": "Europe/Amsterdam",
    }
    one = {**month, "site": site_id}
    names = [
        "overview",
        "sessions/daily",
        "pages/top",
        "geo",
        "engagement",
        "sources",
        "realtime",
        "storage",
        "leads",
        "leads/projects",
        "leads/sources",
        "engine/submissions-daily",
        "engine/by-project",
        "engine/by-source",
        "engine/by-engagement",
        "engine/overview",
        "engine/projects",
        "engine/sources",
        "anomalies",
    ]
    timed = []
    for name in names:
        timed.append((name, f"/analytics/{name}", month))
        if name in ("overview", "sessions/daily", "pages/top", "sources", "engine/overview"):
            timed.append((f"{name} (one site)", f"/analytics/{name}", one))
    timed.append(("leads?search=person", "/analytics/leads", {**month, "search": "person1-"}))
    return timed


def measure(
    client: httpx.Client,
    name: str,
    path: str,
    params: dict[str, str],
    requests: int,
    seconds: float,
) -> Result:
    timings: list[float] = []
    errors = 0
    status = 0
    for _ in range(2):  # warm the caches and the connection
        status = client.get(path, params=params).status_code
    deadline = time.monotonic() + seconds
    while len(timings) < requests and time.monotonic() < deadline:
        started = time.perf_counter()
        response = client.get(path, params=params)
        elapsed = (time.perf_counter() - started) * 1000
        status = response.status_code
        if status != 200:
            errors += 1
            if errors >= 3:
                print(f"  {name}: {status} {response.text[:300]}", flush=True)
                break
            continue
        timings.append(elapsed)
    timings.sort()
    query = str(httpx.QueryParams(params)) or "-"
    return Result(
        name,
        query,
        len(timings),
        percentile(timings, 0.5),
        percentile(timings, 0.95),
        errors,
        status,
    )


@dataclass
class Loaded:
    """A database filled by ``load``: its URL, the measured workspace's admin key and plan,
    the hour the data ends, what was loaded and how long each step took."""

    url: str
    token: str
    plan: Plan
    end: datetime
    rows: Rows
    load_seconds: float
    rebuild_seconds: float


def load(backend: str, url: str, events: int, days: int) -> Loaded:
    """Fill the fresh database at ``url``: two workspaces' visits, events and submissions over
    ``days`` days, then their rollups (bench/dashboard.py uses it for the Analytics page)."""
    # The workspaces, keys and sites are made through the services, whose models are today's:
    # at the head revision; then the schema goes back to the revision the raw rows fit.
    upgrade(Settings(database_url=url))
    token, plans, _keys = asyncio.run(_setup(url))
    command.downgrade(alembic_config(Settings(database_url=url)), LOAD_REVISION)
    end = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    main_plan, other_plan = plans
    for plan, share, seed in ((main_plan, 1.0, 1), (other_plan, OTHER_SHARE, 2)):
        plan.events = int(events * share)
        plan.days = days
        plan.end = end
        plan.seed = seed
    print(f"[{backend}] generating about {events:,} events over {days} days...")
    generated = [generate(plan) for plan in plans]
    rows = generated[0][0]
    print(
        f"[{backend}] loading {len(rows.visits):,} visits, {rows.events:,} events, "
        f"{len(rows.submissions):,} submissions (+{OTHER_SHARE:.0%} elsewhere)...",
        flush=True,
    )
    started = time.perf_counter()
    if backend == "sqlite":
        loaded = load_sqlite(url.removeprefix("sqlite:///"), generated)
    else:
        loaded = load_postgresql(url, generated)
    load_seconds = time.perf_counter() - started
    print(f"[{backend}] loaded {loaded:,} rows in {load_seconds:.0f}s", flush=True)
    started = time.perf_counter()
    upgrade(Settings(database_url=url))
    migrate_seconds = time.perf_counter() - started
    print(f"[{backend}] submissions counted by the migration in {migrate_seconds:.0f}s")
    started = time.perf_counter()
    rebuilt = asyncio.run(_rebuild(url, end - timedelta(days=days + 1), end + timedelta(hours=1)))
    rebuild_seconds = time.perf_counter() - started
    if backend == "postgresql":
        # What autovacuum does soon after the rebuild's inserts: the rollups' statistics were
        # taken when they were empty (the VACUUM ANALYZE after loading).
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE tracking_daily, tracking_hourly")
    print(f"[{backend}] rollups rebuilt in {rebuild_seconds:.0f}s: {rebuilt}", flush=True)
    return Loaded(url, token, main_plan, end, rows, load_seconds, rebuild_seconds)


def run_backend(args: argparse.Namespace, backend: str) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="leadline-bench-analytics-"))
    url = fresh_database(backend, workdir, DATABASE)
    try:
        loaded = load(backend, url, args.events, args.days)
        token, main_plan, end, rows = loaded.token, loaded.plan, loaded.end, loaded.rows
        load_seconds, rebuild_seconds = loaded.load_seconds, loaded.rebuild_seconds
        results = []
        os.environ["LEADLINE_API_RATE_LIMIT"] = "100000000"
        # Each source tree's app in turn, round after round, on the same database.
        apps = [Path(app).resolve() for app in args.app] or [ROOT]
        for round_ in range(args.rounds):
            for app in apps:
                label = (
                    f"{app.name}, round {round_ + 1}" if len(apps) > 1 or args.rounds > 1 else ""
                )
                print(f"[{backend}] {label} {_load_average()}".replace("  ", " "), flush=True)
                with serve(url, app) as base:
                    headers = {"Authorization": f"Bearer {token}"}
                    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
                        for name, path, params in routes(main_plan.site_ids[0], end.date()):
                            if args.only and not any(part in name for part in args.only):
                                continue
                            result = measure(
                                client, name, path, params, args.requests, args.seconds
                            )
                            result.app = label
                            results.append(result)
                            print(
                                f"[{backend}] {name:34} p50 {result.p50:7.1f} ms  "
                                f"p95 {result.p95:7.1f} ms  n={result.n} status={result.status}",
                                flush=True,
                            )
                print(f"[{backend}] {label} {_load_average()}".replace("  ", " "), flush=True)
    finally:
        if not args.keep:
            drop_database(backend, DATABASE)
            shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\n## {backend}: {rows.events:,} events, {len(rows.visits):,} visits, "
        f"{len(rows.submissions):,} submissions over {args.days} days\n"
    )
    print("| GET /analytics/... | app | n | p50 ms | p95 ms | aim met | errors |")
    print("|---|---|---:|---:|---:|---|---:|")
    for r in results:
        met = "yes" if r.p95 < AIM_MS and not r.errors else "no"
        print(
            f"| {r.name} | {r.app or '-'} | {r.n} | {r.p50:.1f} | {r.p95:.1f} | {met} |"
            f" {r.errors} |"
        )
    sys.stdout.flush()
    return {
        "backend": backend,
        "events": rows.events,
        "visits": len(rows.visits),
        "submissions": len(rows.submissions),
        "load_seconds": load_seconds,
        "rebuild_seconds": rebuild_seconds,
        "results": [asdict(r) for r in results],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--events", type=int, default=1_000_000, help="about this many")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--requests", type=int, default=50, help="requests per route")
    parser.add_argument("--seconds", type=float, default=20.0, help="time cap per route")
    parser.add_argument("--only", nargs="*", help="only routes whose name contains one of these")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--app",
        action="append",
        default=[],
        help="serve the app of this source tree (repeat to compare trees, taken in turn)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every app's requests")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = [run_backend(args, backend) for backend in backends]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
