"""Lead benchmark: bulk-load leads, then time lead creation and list pages over HTTP.

Run from the repository root, for example::

    .venv/bin/python bench/leads.py --backend both --leads 1000000

See bench/README.md for what it measures and docs/performance.md for recorded results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from leadline.auth.service import create_key  # noqa: E402
from leadline.config import Settings  # noqa: E402
from leadline.db import Database  # noqa: E402
from leadline.kit.ids import id_from  # noqa: E402
from leadline.leads.service import recount_facets  # noqa: E402
from leadline.leads.tasks import merge_segments  # noqa: E402
from leadline.migrations import upgrade  # noqa: E402

HOST = "127.0.0.1"
PG_DATABASE = "leadline_bench"
PG_ADMIN_URL = f"postgresql://postgres@{HOST}:5432/postgres"
PG_URL = f"postgresql://postgres@{HOST}:5432/{PG_DATABASE}"
AIM_MS = 50.0
OTHER_WORKSPACE_LEADS = 5_000

# ------------------------------------------------------------------------------ data shape

STATUSES = (("open", 0.55), ("qualified", 0.20), ("won", 0.15), ("lost", 0.10))
SOURCES = (
    ("inbound", 0.40),
    ("gtm", 0.25),
    ("api", 0.15),
    ("wordpress", 0.10),
    ("manual", 0.06),
    ("import", 0.04),
)
# Share of leads that carry each click ID.
CLICK_RATES = {
    "gclid": 0.40,
    "fbc": 0.15,
    "fbp": 0.20,
    "msclkid": 0.05,
    "ga4cid": 0.30,
    "ga4sid": 0.30,
    "ttclid": 0.02,
    "li_fat_id": 0.01,
    "gbraid": 0.01,
    "wbraid": 0.01,
    "dclid": 0.005,
    "twclid": 0.005,
    "rdt_cid": 0.005,
    "sccid": 0.003,
    "epik": 0.003,
}
CLICK_PLATFORMS = (
    ("gclid", "googleads", 90),
    ("gbraid", "googleads", 90),
    ("wbraid", "googleads", 90),
    ("dclid", "googleads", 90),
    ("fbc", "meta", 62),
    ("msclkid", "microsoftads", 90),
    ("ttclid", "tiktok", 28),
    ("li_fat_id", "linkedin", 90),
    ("twclid", "x", 30),
    ("rdt_cid", "reddit", 28),
    ("sccid", "snapchat", 28),
    ("epik", "pinterest", 30),
)
WEBSITES = (
    ("https://www.example.com", 0.6),
    ("https://shop.example.com", 0.25),
    ("https://example.nl", 0.15),
)
PATHS = ("/", "/contact", "/offerte", "/pricing", "/demo", "/blog/lead-tracking")
UTM_SOURCES = ("google", "facebook", "bing", "newsletter", "linkedin", "tiktok")
UTM_MEDIUMS = ("cpc", "paid_social", "email", "organic", "display")
CAMPAIGNS = tuple(f"campaign-{n:02d}" for n in range(30))
FIRST = [
    "Anna",
    "Bram",
    "Chris",
    "Daan",
    "Eva",
    "Fleur",
    "Gijs",
    "Hanna",
    "Ivo",
    "Julia",
    "Koen",
    "Lotte",
    "Milan",
    "Noor",
    "Olaf",
    "Pien",
    "Quinten",
    "Roos",
    "Sam",
    "Tess",
    "Umar",
    "Vera",
    "Wout",
    "Xena",
    "Yara",
    "Zeb",
]
LAST = [
    "Jansen",
    "de-Vries",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de-Boer",
    "Mulder",
    "de-Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van-Leeuwen",
    "Dekker",
    "Brouwer",
    "de-Wit",
    "Dijkstra",
    "Smits",
    "de-Graaf",
    "van-der-Meer",
    "Kok",
    "Jacobs",
]
DOMAINS = ("example.org", "mail.example.net", "company.example", "bedrijf.example")

LEAD_COLUMNS = (
    "id",
    "workspace_id",
    "name",
    "email",
    "phone",
    "phone_e164",
    "status",
    "value",
    "currency",
    "source",
    "ad_platform",
    "label_id",
    "created_at",
    "updated_at",
    "qualified_at",
    "expires_at",
    "clicked_at",
    "website",
    "path",
    *CLICK_RATES,
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
)


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    roll = rng.random()
    for value, share in weighted:
        roll -= share
        if roll < 0:
            return value
    return weighted[-1][0]


@dataclass
class Samples:
    """Values that exist in the loaded data, used as equality filters."""

    values: dict[str, str] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    def offer(self, name: str, value: str) -> None:
        # Keep the 100th value seen: some row in the older part of the data.
        count = self.seen.get(name, 0) + 1
        self.seen[name] = count
        if count == 100 or name not in self.values:
            self.values[name] = value


def generate_leads(
    n: int, workspace_id: str, label_ids: list[str], now: datetime, seed: int, samples: Samples
) -> Iterator[dict[str, Any]]:
    """N leads over the two years before ``now``, oldest first; timestamps naive UTC."""
    rng = random.Random(seed)
    span = 730 * 86_400.0
    start = now - timedelta(days=730)
    offsets = sorted(rng.random() * span for _ in range(n))
    for i, offset in enumerate(offsets):
        created = start + timedelta(seconds=offset)
        status = _pick(rng, STATUSES)
        source = _pick(rng, SOURCES)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        local = f"{first.lower()}.{last.lower()}{i}"
        digits = f"{(seed * 7919 + i * 104_729) % 100_000_000:08d}"
        row: dict[str, Any] = {
            "id": id_from(
                "lead", int(created.replace(tzinfo=UTC).timestamp() * 1000), rng.getrandbits(80)
            ),
            "workspace_id": workspace_id,
            "name": f"{first} {last.replace('-', ' ')}",
            "email": f"{local}@{rng.choice(DOMAINS)}",
            "phone": f"+31 6 {digits}",
            "phone_e164": f"+316{digits}",
            "status": status,
            "value": None,
            "currency": None,
            "source": source,
            "ad_platform": None,
            "label_id": rng.choice(label_ids) if rng.random() < 0.10 else None,
            "created_at": created,
            "updated_at": created,
            "qualified_at": None,
            "expires_at": None,
            "clicked_at": None,
            "website": _pick(rng, WEBSITES) if rng.random() < 0.9 else None,
            "path": rng.choice(PATHS),
            "ad_storage": None,
            "ad_user_data": None,
            "ad_personalization": None,
            "analytics_storage": None,
        }
        if status != "open":
            changed = min(created + timedelta(hours=rng.random() * 720), now)
            row["updated_at"] = changed
            if status in ("qualified", "won"):
                row["qualified_at"] = changed
            if status == "won":
                row["value"] = rng.randrange(2, 400) * 50
                row["currency"] = "EUR"
        for name, rate in CLICK_RATES.items():
            if rng.random() < rate:
                value = f"{name[:3].upper()}.{i:07d}.{rng.getrandbits(48):012x}"
                row[name] = value
                samples.offer(name, value)
            else:
                row[name] = None
        for name, platform, days in CLICK_PLATFORMS:
            if row[name]:
                row["ad_platform"] = platform
                row["clicked_at"] = created - timedelta(minutes=rng.random() * 60)
                row["expires_at"] = row["clicked_at"] + timedelta(days=days)
                break
        if rng.random() < 0.6:
            row["utm_source"] = rng.choice(UTM_SOURCES)
            row["utm_medium"] = rng.choice(UTM_MEDIUMS)
            row["utm_campaign"] = rng.choice(CAMPAIGNS)
            row["utm_term"] = f"term-{rng.randrange(500)}" if rng.random() < 0.5 else None
            row["utm_content"] = f"ad-{rng.randrange(200)}" if rng.random() < 0.3 else None
        else:
            row["utm_source"] = row["utm_medium"] = row["utm_campaign"] = None
            row["utm_term"] = row["utm_content"] = None
        if rng.random() < 0.7:
            consent = rng.random() < 0.8
            row["ad_storage"] = row["ad_user_data"] = consent
            row["ad_personalization"] = row["analytics_storage"] = consent
        for name in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"):
            if row[name]:
                samples.offer(name, row[name])
        samples.offer("email", row["email"])
        if row["website"]:
            samples.offer("website", row["website"])
        if row["label_id"]:
            samples.offer("label_id", row["label_id"])
        yield row


# --------------------------------------------------------------------------------- loading


@dataclass
class Setup:
    backend: str
    url: str
    token: str
    workspace_id: str
    other_workspace_id: str
    samples: dict[str, str]
    now: datetime
    load_seconds: float
    leads: int


async def _create_keys(url: str) -> tuple[str, str, str]:
    db = Database(Settings(database_url=url))
    try:
        async with db.transaction() as session:
            issued = await create_key(session, workspace_slug="bench", role="admin")
            other = await create_key(session, workspace_slug="bench-other", role="admin")
        return issued.token, issued.workspace.id, other.workspace.id
    finally:
        await db.dispose()


def _labels(workspace_id: str, seed: int) -> list[tuple[str, str, str, str]]:
    rng = random.Random(seed)
    return [
        (id_from("label", 1_704_067_200_000, rng.getrandbits(80)), workspace_id, name, "2024-01-01")
        for name in ("hot", "callback", "spam", "partner", "enterprise")
    ]


def _sqlite_value(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(" ", "microseconds")
    if name == "value" and value is not None:
        return value * 10_000  # Money: integer ten-thousandths on SQLite
    if isinstance(value, bool):
        return int(value)
    return value


def load_sqlite(path: str, workspaces: list[tuple[str, int, int]], now: datetime) -> Samples:
    samples = Samples()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    marks = ", ".join("?" * len(LEAD_COLUMNS))
    insert = f"INSERT INTO leads ({', '.join(LEAD_COLUMNS)}) VALUES ({marks})"
    for workspace_id, n, seed in workspaces:
        labels = _labels(workspace_id, seed)
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO labels (id, workspace_id, name, created_at) VALUES (?, ?, ?, ?)", labels
        )
        conn.execute("COMMIT")
        target = samples if seed == 1 else Samples()
        rows = generate_leads(n, workspace_id, [lbl[0] for lbl in labels], now, seed, target)
        while True:
            batch = [
                tuple(_sqlite_value(c, row[c]) for c in LEAD_COLUMNS) for row in _take(rows, 50_000)
            ]
            if not batch:
                break
            conn.execute("BEGIN")
            conn.executemany(insert, batch)
            conn.execute("COMMIT")
    conn.execute(RECOUNT_LEADS)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return samples


# Leads loaded behind the service's back: set each workspace's lead count as the service would.
RECOUNT_LEADS = (
    "UPDATE workspaces SET lead_count = "
    "(SELECT count(*) FROM leads WHERE leads.workspace_id = workspaces.id)"
)


def _take(rows: Iterator[dict[str, Any]], count: int) -> Iterator[dict[str, Any]]:
    for _ in range(count):
        try:
            yield next(rows)
        except StopIteration:
            return


def load_postgresql(url: str, workspaces: list[tuple[str, int, int]], now: datetime) -> Samples:
    import psycopg

    samples = Samples()
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("SET synchronous_commit = off")
        for workspace_id, n, seed in workspaces:
            labels = _labels(workspace_id, seed)
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO labels (id, workspace_id, name, created_at) "
                    "VALUES (%s, %s, %s, %s)",
                    labels,
                )
                target = samples if seed == 1 else Samples()
                rows = generate_leads(
                    n, workspace_id, [lbl[0] for lbl in labels], now, seed, target
                )
                with cur.copy(f"COPY leads ({', '.join(LEAD_COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(tuple(row[c] for c in LEAD_COLUMNS))
            conn.commit()
        conn.execute(RECOUNT_LEADS)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return samples


def prepare(backend: str, leads: int, sqlite_path: str | None, reuse: bool) -> Setup:
    if backend == "sqlite":
        path = sqlite_path or os.path.join(tempfile.mkdtemp(prefix="leadline-bench-"), "bench.db")
        url = f"sqlite:///{path}"
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fresh = not (reuse and os.path.exists(path))
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path + suffix)
    else:
        import psycopg

        url = PG_URL
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)
            ).fetchone()
            fresh = not (reuse and exists)
            if fresh:
                conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {PG_DATABASE}")
    started = time.perf_counter()
    upgrade(Settings(database_url=url))
    print(f"[{backend}] migrated in {time.perf_counter() - started:.1f}s ({url})", flush=True)
    token, ws, other_ws = asyncio.run(_create_keys(url))
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    meta_path = _meta_path(backend, url)
    load_seconds = 0.0
    if fresh:
        plan = [(ws, leads, 1), (other_ws, OTHER_WORKSPACE_LEADS, 2)]
        print(f"[{backend}] loading {leads:,} + {OTHER_WORKSPACE_LEADS:,} leads...", flush=True)
        started = time.perf_counter()
        if backend == "sqlite":
            samples = load_sqlite(url.removeprefix("sqlite:///"), plan, now)
        else:
            samples = load_postgresql(url, plan, now)
        asyncio.run(_recount_facets(url, [ws, other_ws]))
        load_seconds = time.perf_counter() - started
        total = leads + OTHER_WORKSPACE_LEADS
        print(
            f"[{backend}] loaded in {load_seconds:.0f}s ({total / load_seconds:,.0f} rows/s, "
            "indexes in place, ANALYZE included)",
            flush=True,
        )
        if backend == "sqlite":
            # What the job leads.merge_search_index does within a quarter of an hour of a bulk
            # load: merge the segments the load left in the search table.
            started = time.perf_counter()
            rounds = asyncio.run(_merge_search_index(url))
            print(
                f"[{backend}] merged the search table's segments in "
                f"{time.perf_counter() - started:.0f}s ({rounds} transactions)",
                flush=True,
            )
        meta_path.write_text(
            json.dumps({"samples": samples.values, "now": now.isoformat(), "ws": ws})
        )
    else:
        # A kept database: migrations above added any new indexes; reuse its data.
        saved = json.loads(meta_path.read_text())
        samples = Samples(values=saved["samples"])
        now = datetime.fromisoformat(saved["now"])
        ws = saved["ws"]
        asyncio.run(_analyze(url))
        print(f"[{backend}] reusing the kept database", flush=True)
    return Setup(backend, url, token, ws, other_ws, samples.values, now, load_seconds, leads)


async def _recount_facets(url: str, workspace_ids: list[str]) -> None:
    """The leads went in behind the service's back: count their facets as the service would."""
    db = Database(Settings(database_url=url))
    try:
        async with db.transaction() as session:
            for workspace_id in workspace_ids:
                await recount_facets(session, workspace_id)
    finally:
        await db.dispose()


async def _merge_search_index(url: str) -> int:
    db = Database(Settings(database_url=url))
    try:
        return await merge_segments(db)
    finally:
        await db.dispose()


async def _analyze(url: str) -> None:
    from sqlalchemy import text

    db = Database(Settings(database_url=url))
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    finally:
        await db.dispose()


def _meta_path(backend: str, url: str) -> Path:
    if backend == "sqlite":
        return Path(url.removeprefix("sqlite:///") + ".bench.json")
    return Path(tempfile.gettempdir()) / f"{PG_DATABASE}.bench.json"


def drop(setup: Setup) -> None:
    if setup.backend == "sqlite":
        path = setup.url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm", ".bench.json"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path + suffix)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(path))
    else:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")


# ---------------------------------------------------------------------------------- server


@contextlib.contextmanager
def serve(url: str, root: Path = ROOT) -> Iterator[str]:
    """The base URL of the app of the source tree ``root`` (this one by default) serving the
    database at ``url``, while it runs."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "LEADLINE_DATABASE_URL": url, "LEADLINE_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "leadline.app:create_app",
            "--factory",
            "--host",
            HOST,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=root,
        env={**env, "PYTHONPATH": str(root)},
    )
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start within 60s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# -------------------------------------------------------------------------------- measuring


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return math.nan
    return sorted_ms[min(len(sorted_ms) - 1, max(0, math.ceil(q * len(sorted_ms)) - 1))]


@dataclass
class Result:
    name: str
    query: str
    n: int
    p50: float
    p99: float
    errors: int
    total: int | None = None
    per_second: float | None = None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def list_queries(setup: Setup) -> list[tuple[str, dict[str, str]]]:
    s, now = setup.samples, setup.now
    month_start, month_end = now - timedelta(days=400), now - timedelta(days=370)
    day = (now - timedelta(days=200)).strftime("%Y-%m-%d")
    recent = _iso(now - timedelta(days=30))
    queries: list[tuple[str, dict[str, str]]] = [
        ("no filter (createdAt:desc)", {}),
        ("status", {"status": "won"}),
        ("source", {"source": "wordpress"}),
        ("labelId", {"labelId": s["label_id"]}),
        ("labelId[exists]", {"labelId[exists]": "true"}),
        ("website", {"website": s["website"]}),
        ("website[exists]", {"website[exists]": "true"}),
        ("value", {"value": "2500"}),
        ("value[gte]", {"value[gte]": "15000"}),
        ("value[exists]", {"value[exists]": "true"}),
        ("createdAt (a day)", {"createdAt": day}),
        (
            "createdAt[gte]+[lt] (a month)",
            {"createdAt[gte]": _iso(month_start), "createdAt[lt]": _iso(month_end)},
        ),
        ("createdAt[exists]", {"createdAt[exists]": "true"}),
        ("updatedAt[gte] (30 days)", {"updatedAt[gte]": recent}),
        ("updatedAt[exists]", {"updatedAt[exists]": "true"}),
        ("qualifiedAt[gte] (30 days)", {"qualifiedAt[gte]": recent}),
        ("qualifiedAt[exists]", {"qualifiedAt[exists]": "true"}),
    ]
    for name in CLICK_RATES:
        api_name = {"li_fat_id": "li_fat_id", "rdt_cid": "rdt_cid"}.get(name, name)
        queries.append((api_name, {api_name: s[name]}))
        queries.append((f"{api_name}[exists]", {f"{api_name}[exists]": "true"}))
    for name in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"):
        queries.append((name, {name: s[name]}))
        queries.append((f"{name}[exists]", {f"{name}[exists]": "true"}))
    queries += [
        (
            "status + createdAt range",
            {
                "status": "qualified",
                "createdAt[gte]": _iso(month_start),
                "createdAt[lt]": _iso(month_end),
            },
        ),
        ("sort value:desc", {"sort": "value:desc"}),
        ("sort name:asc", {"sort": "name:asc"}),
        ("sort updatedAt:desc", {"sort": "updatedAt:desc"}),
        ("search (a surname)", {"search": "dijkstra"}),
        ("search (a first and last name)", {"search": "anna.jansen"}),
        ("search (one email)", {"search": s["email"]}),
        ("search (past the cap, oldest leads)", {"search": "a.jansen1"}),
        ("search (2 characters)", {"search": "ij"}),
        ("search (2 characters, no match)", {"search": "qx"}),
        ("page=200 (deep page)", {"page": "200"}),
        ("limit=100", {"limit": "100"}),
    ]
    return queries


def measure_list(
    client: httpx.Client, name: str, params: dict[str, str], requests: int, seconds: float
) -> Result:
    timings: list[float] = []
    errors = 0
    total = None
    query = str(httpx.QueryParams(params)) or "-"
    for _ in range(2):  # warm the caches and the connection
        client.get("/api/leads", params=params)
    deadline = time.monotonic() + seconds
    while len(timings) < requests and time.monotonic() < deadline:
        started = time.perf_counter()
        response = client.get("/api/leads", params=params)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            errors += 1
            if errors >= 5:
                print(f"  {name}: {response.status_code} {response.text[:300]}", flush=True)
                break
            continue
        timings.append(elapsed)
        total = response.json()["meta"]["pagination"]["total"]
    timings.sort()
    return Result(
        name,
        query,
        len(timings),
        percentile(timings, 0.5),
        percentile(timings, 0.99),
        errors,
        total,
    )


def lead_body(rng: random.Random, i: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    body: dict[str, Any] = {
        "name": f"{first} {last.replace('-', ' ')}",
        "email": f"{first.lower()}.{last.lower()}.new{i}@example.org",
        "phone": f"+31 6 {rng.randrange(10**8):08d}",
        "website": "https://www.example.com",
        "path": "/contact",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": rng.choice(CAMPAIGNS),
        "custom": {"message": "Please call me back about a quote.", "company": "Example BV"},
    }
    if rng.random() < 0.4:
        body["gclid"] = f"GCL.new.{i}.{rng.getrandbits(48):012x}"
    return body


def measure_create_serial(
    client: httpx.Client, requests: int, seconds: float, rng: random.Random
) -> Result:
    timings: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    started_all = time.perf_counter()
    i = 0
    while i < requests and time.monotonic() < deadline:
        i += 1
        body = lead_body(rng, i)
        started = time.perf_counter()
        response = client.post("/api/leads", json=body)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 201:
            errors += 1
            if errors >= 20:
                break
            continue
        timings.append(elapsed)
    wall = time.perf_counter() - started_all
    timings.sort()
    return Result(
        "POST /api/leads, 1 client",
        "-",
        len(timings),
        percentile(timings, 0.5),
        percentile(timings, 0.99),
        errors,
        per_second=len(timings) / wall,
    )


async def measure_create_concurrent(
    base: str, token: str, concurrency: int, requests: int, seconds: float, rng: random.Random
) -> Result:
    timings: list[float] = []
    errors = 0
    issued = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal issued, errors
        while issued < requests and time.monotonic() < deadline and errors < 50:
            issued += 1
            body = lead_body(rng, 1_000_000 + issued)
            started = time.perf_counter()
            response = await client.post("/api/leads", json=body)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code == 201:
                timings.append(elapsed)
            else:
                errors += 1

    async with httpx.AsyncClient(
        base_url=base, headers={"X-API-KEY": token}, limits=limits, timeout=60
    ) as client:
        started_all = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started_all
    timings.sort()
    return Result(
        f"POST /api/leads, {concurrency} clients",
        "-",
        len(timings),
        percentile(timings, 0.5),
        percentile(timings, 0.99),
        errors,
        per_second=len(timings) / wall,
    )


# ---------------------------------------------------------------------------------- output


def print_tables(setup: Setup, creates: list[Result], lists: list[Result]) -> None:
    print(f"\n## {setup.backend}: {setup.leads:,} leads", flush=True)
    if setup.load_seconds:
        rate = (setup.leads + OTHER_WORKSPACE_LEADS) / setup.load_seconds
        print(f"\nBulk load: {setup.load_seconds:.0f} s ({rate:,.0f} rows/s)")
    print("\n| Lead creation | requests | req/s | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in creates:
        print(f"| {r.name} | {r.n} | {r.per_second:.0f} | {r.p50:.1f} | {r.p99:.1f} | {r.errors} |")
    print(f"\n| List query | matches (total) | n | p50 ms | p99 ms | under {AIM_MS:.0f} ms p99 |")
    print("|---|---:|---:|---:|---:|---|")
    for r in lists:
        verdict = "yes" if r.p99 <= AIM_MS and not r.errors else "**no**"
        total = f"{r.total:,}" if r.total is not None else "-"
        print(f"| {r.name} | {total} | {r.n} | {r.p50:.1f} | {r.p99:.1f} | {verdict} |")
    misses = [r.name for r in lists if not (r.p99 <= AIM_MS and not r.errors)]
    print(f"\n{len(lists) - len(misses)}/{len(lists)} list queries under {AIM_MS:.0f} ms p99.")
    sys.stdout.flush()


def run_backend(args: argparse.Namespace, backend: str) -> dict[str, Any]:
    setup = prepare(backend, args.leads, args.sqlite_path, args.reuse)
    rng = random.Random(7)
    creates: list[Result] = []
    lists: list[Result] = []
    try:
        with serve(setup.url) as base:
            headers = {"X-API-KEY": setup.token}
            with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                if not args.skip_list:
                    for name, params in list_queries(setup):
                        if args.only and not any(o in name for o in args.only):
                            continue
                        result = measure_list(client, name, params, args.requests, args.seconds)
                        lists.append(result)
                        print(
                            f"[{backend}] {name:32} p50 {result.p50:8.1f} ms  "
                            f"p99 {result.p99:8.1f} ms  n={result.n} total={result.total}",
                            flush=True,
                        )
                if not args.skip_create:
                    creates.append(
                        measure_create_serial(client, args.create_requests, args.seconds * 2, rng)
                    )
            if not args.skip_create:
                creates.append(
                    asyncio.run(
                        measure_create_concurrent(
                            base,
                            setup.token,
                            args.concurrency,
                            args.create_requests * 2,
                            args.seconds * 2,
                            rng,
                        )
                    )
                )
    finally:
        if not args.keep:
            drop(setup)
    print_tables(setup, creates, lists)
    return {
        "backend": backend,
        "leads": setup.leads,
        "load_seconds": setup.load_seconds,
        "creates": [asdict(r) for r in creates],
        "lists": [asdict(r) for r in lists],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads in the main workspace")
    parser.add_argument("--requests", type=int, default=100, help="requests per list measurement")
    parser.add_argument(
        "--create-requests",
        type=int,
        default=1000,
        help="POSTs at concurrency 1 (twice that at -c)",
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="time cap per list measurement (x2 for POSTs)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept database if present")
    parser.add_argument("--sqlite-path", help="SQLite file (default: a new temporary directory)")
    parser.add_argument("--only", nargs="*", help="only list queries whose name contains these")
    parser.add_argument("--skip-create", action="store_true")
    parser.add_argument("--skip-list", action="store_true")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = [run_backend(args, backend) for backend in backends]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
