"""Lead reports benchmark: bulk-load submissions (with their leads and quarter-hour rollups)
over 30 days, then time every lead report route through the app.

Run from the repository root, for example::

    .venv/bin/python bench/lead_reports.py --backend sqlite --submissions 1000000

See bench/README.md for what it measures and docs/performance.md for recorded results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from starlette.testclient import TestClient  # noqa: E402

from leadline.app import create_app  # noqa: E402
from leadline.auth.service import create_key  # noqa: E402
from leadline.config import Settings  # noqa: E402
from leadline.db import Database  # noqa: E402
from leadline.forms.capture import SUSPICIOUS_FROM  # noqa: E402
from leadline.forms.repository import bucket_of  # noqa: E402
from leadline.migrations import upgrade  # noqa: E402
from leadline.sites import service as sites  # noqa: E402

HOST = "127.0.0.1"
PG_DATABASE = "leadline_bench_lead_reports"
PG_ADMIN_URL = f"postgresql://postgres@{HOST}:5432/postgres"
PG_URL = f"postgresql://postgres@{HOST}:5432/{PG_DATABASE}"
AIM_MS = 100.0
DAYS = 30
# Skewed as real traffic is: a few projects and sources take most submissions.
PROJECTS = [f"Project {n}" for n in range(12)]
SOURCES = ["WebSite", "FB", "google", "99", "newsletter", "direct", "referral", ""]
LABELS = (("Cold", 0.55), ("Warm", 0.2), ("Hot", 0.1), ("Very Hot", 0.03), ("", 0.12))

LEAD_COLUMNS = ("id", "workspace_id", "name", "email", "phone", "status", "source")
SUBMISSION_COLUMNS = (
    "id",
    "workspace_id",
    "lead_id",
    "site_id",
    "form_id",
    "project",
    "source",
    "email",
    "fields",
    "suspicion_score",
    "suspicion_reasons",
    "engagement_score",
    "engagement_label",
    "outcome",
)
KEY_COLUMNS = ("site_id", "project", "source", "engagement_label", "suspicious", "whole")
SUM_COLUMNS = (
    "submissions",
    "created",
    "merged",
    "kept_aside",
    "engaged",
    "engagement_total",
    "suspicion_total",
)
QUARTER_COLUMNS = ("workspace_id", "bucket", *KEY_COLUMNS, *SUM_COLUMNS)
DAY_COLUMNS = ("workspace_id", "day", *KEY_COLUMNS, *SUM_COLUMNS)


def _zipf(rng: random.Random, values: list[str]) -> str:
    weights = [1 / (n + 1) for n in range(len(values))]
    return rng.choices(values, weights)[0]


def generate(n: int, workspace_id: str, site_id: str, now: datetime) -> dict[str, list[Any]]:
    """Submissions over the last DAYS days (every other one by a returning person), their
    leads, and the rollups the capture would have kept."""
    rng = random.Random(7)
    start = now - timedelta(days=DAYS)
    span = (now - start).total_seconds()
    moments = sorted(start + timedelta(seconds=rng.random() * span) for _ in range(n))
    leads: list[dict[str, Any]] = []
    submissions: list[dict[str, Any]] = []
    quarters: dict[tuple[Any, ...], list[int]] = {}
    days: dict[tuple[Any, ...], list[int]] = {}
    label_names = [label for label, _ in LABELS]
    label_weights = [weight for _, weight in LABELS]
    for i, moment in enumerate(moments):
        returning = leads and rng.random() < 0.5
        kept_aside = rng.random() < 0.03
        if kept_aside:
            lead_id, outcome = None, "kept_aside"
        elif returning:
            lead = leads[rng.randrange(max(0, len(leads) - 5000), len(leads))]
            lead_id, outcome = lead["id"], "merged"
        else:
            person = len(leads)
            lead_id, outcome = f"lead_b{person:09d}", "created"
            leads.append(
                {
                    "id": lead_id,
                    "workspace_id": workspace_id,
                    "name": f"Person {person}",
                    "email": f"person{person}@example.com",
                    "phone": f"+3161{person:07d}",
                    "status": "open",
                    "source": "inbound",
                    "created_at": moment,
                    "updated_at": moment,
                }
            )
        label = rng.choices(label_names, label_weights)[0]
        score = {"Cold": 10, "Warm": 30, "Hot": 55, "Very Hot": 80, "": None}[label]
        suspicion = rng.choice((0, 0, 0, 10, 15, 30, 45, 70))
        row = {
            "id": f"sub_b{i:010d}",
            "workspace_id": workspace_id,
            "lead_id": lead_id,
            "site_id": site_id,
            "form_id": "enquiry",
            "project": _zipf(rng, PROJECTS),
            "source": _zipf(rng, SOURCES),
            "email": f"person{i}@example.com",
            "fields": "{}",
            "suspicion_score": suspicion,
            "suspicion_reasons": "[]",
            "engagement_score": score,
            "engagement_label": label or None,
            "outcome": outcome,
            "created_at": moment,
        }
        submissions.append(row)
        suspicious = suspicion >= SUSPICIOUS_FROM
        keys = (
            (site_id, row["project"], row["source"], label, suspicious, False),
            (site_id, "", "", "", suspicious, True),
        )
        added = (
            1,
            int(outcome == "created"),
            int(outcome == "merged"),
            int(outcome == "kept_aside"),
            int(score is not None),
            score or 0,
            suspicion,
        )
        quarter = bucket_of(moment)
        for found, when in ((quarters, quarter), (days, quarter.date())):
            for key in keys:
                total = found.setdefault((workspace_id, when, *key), [0] * len(SUM_COLUMNS))
                for n, value in enumerate(added):
                    total[n] += value
    rollups = [(*key, *sums) for key, sums in quarters.items()]
    day_rows = [(*key, *sums) for key, sums in days.items()]
    return {
        "leads": leads,
        "submissions": submissions,
        "rollups": rollups,
        "days": day_rows,
    }


def _sqlite_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def load_sqlite(path: str, data: dict[str, list[Any]]) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    lead_cols = (*LEAD_COLUMNS, "created_at", "updated_at")
    conn.executemany(
        f"INSERT INTO leads ({', '.join(lead_cols)}) VALUES ({', '.join('?' * len(lead_cols))})",
        [
            (
                *(row[c] for c in LEAD_COLUMNS),
                _sqlite_time(row["created_at"]),
                _sqlite_time(row["updated_at"]),
            )
            for row in data["leads"]
        ],
    )
    sub_cols = (*SUBMISSION_COLUMNS, "created_at")
    conn.executemany(
        f"INSERT INTO lead_submissions ({', '.join(sub_cols)})"
        f" VALUES ({', '.join('?' * len(sub_cols))})",
        [
            (*(row[c] for c in SUBMISSION_COLUMNS), _sqlite_time(row["created_at"]))
            for row in data["submissions"]
        ],
    )
    conn.executemany(
        f"INSERT INTO submission_rollups ({', '.join(QUARTER_COLUMNS)})"
        f" VALUES ({', '.join('?' * len(QUARTER_COLUMNS))})",
        [(row[0], _sqlite_time(row[1]), *row[2:]) for row in data["rollups"]],
    )
    conn.executemany(
        f"INSERT INTO submission_days ({', '.join(DAY_COLUMNS)})"
        f" VALUES ({', '.join('?' * len(DAY_COLUMNS))})",
        [(row[0], row[1].isoformat(), *row[2:]) for row in data["days"]],
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def load_postgres(url: str, data: dict[str, list[Any]]) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        with conn.cursor() as cur:
            for table, columns, rows in (
                ("leads", (*LEAD_COLUMNS, "created_at", "updated_at"), data["leads"]),
                ("lead_submissions", (*SUBMISSION_COLUMNS, "created_at"), data["submissions"]),
            ):
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(tuple(row[c] for c in columns))
            for table, columns, tuples in (
                ("submission_rollups", QUARTER_COLUMNS, data["rollups"]),
                ("submission_days", DAY_COLUMNS, data["days"]),
            ):
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for values in tuples:
                        copy.write_row(values)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


async def _setup(url: str) -> tuple[str, str, str]:
    db = Database(Settings(database_url=url))
    try:
        async with db.transaction() as session:
            issued = await create_key(session, workspace_slug="bench", role="admin")
            site = await sites.create_site(
                session, workspace_slug="bench", domains=["shop.example"]
            )
            return issued.token, site.site.workspace_id, site.site.id
    finally:
        await db.dispose()


def prepare(backend: str) -> str:
    if backend == "sqlite":
        path = os.path.join(tempfile.mkdtemp(prefix="leadline-bench-"), "bench.db")
        return f"sqlite:///{path}"
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DATABASE}")
    return PG_URL


def measure(client: TestClient, key: str, path: str, requests: int) -> tuple[float, float]:
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(2):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 200, (path, answer.text)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(path, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.text)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def run(backend: str, n: int, requests: int) -> list[dict[str, Any]]:
    url = prepare(backend)
    upgrade(Settings(database_url=url))
    key, workspace_id, site_id = asyncio.run(_setup(url))
    now = datetime.now(UTC)
    started = time.perf_counter()
    data = generate(n, workspace_id, site_id, now)
    if backend == "sqlite":
        load_sqlite(url.removeprefix("sqlite:///"), data)
    else:
        load_postgres(url, data)
    print(
        f"[{backend}] {n:,} submissions, {len(data['leads']):,} leads,"
        f" {len(data['rollups']):,} quarter and {len(data['days']):,} day rows loaded"
        f" in {time.perf_counter() - started:.0f}s",
        flush=True,
    )
    last = now.date()
    first = last - timedelta(days=DAYS - 1)
    period = f"from={first}&to={last}&tz=Europe/Amsterdam"
    lead_id = data["leads"][len(data["leads"]) // 2]["id"]
    paths = {
        "engine/overview": f"/analytics/engine/overview?{period}",
        "engine/submissions-daily": f"/analytics/engine/submissions-daily?{period}",
        "engine/submissions-daily?project": (
            f"/analytics/engine/submissions-daily?{period}&project=Project+3"
        ),
        "engine/by-project": f"/analytics/engine/by-project?{period}",
        "engine/by-source": f"/analytics/engine/by-source?{period}",
        "engine/by-engagement": f"/analytics/engine/by-engagement?{period}",
        "engine/projects": f"/analytics/engine/projects?{period}",
        "engine/sources": f"/analytics/engine/sources?{period}",
        "leads": f"/analytics/leads?{period}",
        "leads?limit=100": f"/analytics/leads?{period}&limit=100",
        "leads?project=Project 9": f"/analytics/leads?{period}&project=Project+9",
        "leads?engagement=Very Hot": f"/analytics/leads?{period}&engagement=Very+Hot",
        "leads?search=person12345": f"/analytics/leads?{period}&search=person12345",
        "leads/{id}": f"/analytics/leads/{lead_id}",
    }
    results = []
    with TestClient(create_app(Settings(database_url=url))) as client:
        for name, path in paths.items():
            p50, p95 = measure(client, key, path, requests)
            results.append({"backend": backend, "route": name, "p50_ms": p50, "p95_ms": p95})
            mark = "" if p95 <= AIM_MS else " (over the aim)"
            print(f"[{backend}] {name:36} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms{mark}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--submissions", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--json", help="also write the results as JSON")
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = [row for backend in backends for row in run(backend, args.submissions, args.requests)]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
