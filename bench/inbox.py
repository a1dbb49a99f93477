"""Inbox benchmark: bulk-load conversations and messages, then time GET /api/v1/conversations.

Run from the repository root, for example::

    .venv/bin/python bench/inbox.py --backend both

See bench/README.md for what it measures and docs/performance.md for recorded results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import batches, drop_database, fresh_database, sqlite_value  # noqa: E402
from bench.leads import percentile, serve  # noqa: E402
from leadline.auth.service import create_key  # noqa: E402
from leadline.config import Settings  # noqa: E402
from leadline.db import Database  # noqa: E402
from leadline.kit import cursors  # noqa: E402
from leadline.kit.ids import id_from  # noqa: E402
from leadline.kit.time import iso_millis  # noqa: E402
from leadline.migrations import upgrade  # noqa: E402

DATABASE = "leadline_bench_inbox"
PEOPLE = 20
OTHER_WORKSPACE_CONVERSATIONS = 5_000
# Of the conversations: open, snoozed, closed, spam.
STATUSES = (("open", 0.25), ("snoozed", 0.05), ("closed", 0.65), ("spam", 0.05))
UNASSIGNED = 0.15
# Conversations over half a year old closed in bulk half an hour before the benchmark: they
# changed recently, their last message is old.
BULK_CLOSED = 1_000
YEAR = timedelta(days=365)
WORDS = (
    "hello",
    "order",
    "delivery",
    "invoice",
    "refund",
    "thanks",
    "question",
    "price",
    "shipping",
    "account",
    "password",
    "login",
    "trial",
    "plan",
    "upgrade",
    "cancel",
    "address",
    "tomorrow",
    "today",
    "please",
    "help",
    "status",
    "parcel",
)

CONTACT_COLUMNS = (
    "id",
    "workspace_id",
    "name",
    "email",
    "attributes",
    "spam",
    "created_at",
    "updated_at",
)
CONVERSATION_COLUMNS = (
    "id",
    "workspace_id",
    "contact_id",
    "status",
    "assignee_id",
    "subject",
    "tags",
    "snoozed_until",
    "first_reply_at",
    "waiting_since",
    "assigned_at",
    "message_count",
    "last_activity_at",
    "created_at",
    "updated_at",
)
MESSAGE_COLUMNS = (
    "id",
    "workspace_id",
    "conversation_id",
    "seq",
    "author",
    "person_id",
    "text",
    "quarantined",
    "created_at",
)
PERSON_COLUMNS = (
    "id",
    "workspace_id",
    "email",
    "name",
    "role",
    "availability",
    "created_at",
    "updated_at",
)


def _millis(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    roll = rng.random()
    for value, weight in weighted:
        roll -= weight
        if roll < 0:
            return value
    return weighted[-1][0]


# ------------------------------------------------------------------------------ the data


@dataclass
class Rows:
    """One workspace's inbox, as rows for each table."""

    people: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    conversations: list[dict[str, Any]]
    messages: Iterator[dict[str, Any]]


def generate(
    workspace_id: str, conversations: int, messages: int, now: datetime, seed: int
) -> Rows:
    """``conversations`` over the past year, with about ``messages`` messages among them (1 to
    twice the mean each), about 0.6 contacts per conversation, and the people who answer."""
    rng = random.Random(seed)
    start = now - YEAR
    people = [
        {
            "id": id_from("per", _millis(start), rng.getrandbits(80)),
            "workspace_id": workspace_id,
            "email": f"agent{n}@team.example",
            "name": f"Agent {n}",
            "role": "agent",
            "availability": "online",
            "created_at": start,
            "updated_at": start,
        }
        for n in range(PEOPLE)
    ]
    contacts: list[dict[str, Any]] = []
    for n in range(max(1, conversations * 6 // 10)):
        created = start + timedelta(seconds=rng.uniform(0, YEAR.total_seconds()))
        contacts.append(
            {
                "id": id_from("ct", _millis(created), rng.getrandbits(80)),
                "workspace_id": workspace_id,
                "name": f"Contact {n}",
                "email": f"contact{n}@example.org",
                "attributes": "{}",
                "spam": False,
                "created_at": created,
                "updated_at": created,
            }
        )
    mean = messages / conversations
    rows = []
    plans: list[tuple[dict[str, Any], list[datetime]]] = []
    for _ in range(conversations):
        contact = rng.choice(contacts)
        began: datetime = contact["created_at"]
        created = max(began, start + timedelta(seconds=rng.uniform(0, YEAR.total_seconds())))
        count = max(1, round(rng.uniform(1, 2 * mean - 1)))
        times = [created]
        for _ in range(count - 1):
            gap = timedelta(seconds=rng.expovariate(1 / 3600))
            times.append(min(now, times[-1] + gap))
        status = _pick(rng, STATUSES)
        assignee = None if rng.random() < UNASSIGNED else rng.choice(people)["id"]
        last = times[-1]
        conversation = {
            "id": id_from("conv", _millis(created), rng.getrandbits(80)),
            "workspace_id": workspace_id,
            "contact_id": contact["id"],
            "status": status,
            "assignee_id": assignee,
            "subject": rng.choice(WORDS).capitalize(),
            "tags": "[]",
            "snoozed_until": now + timedelta(days=1) if status == "snoozed" else None,
            "first_reply_at": times[1] if count > 1 else None,
            "waiting_since": last if count % 2 else None,
            "assigned_at": created if assignee else None,
            "message_count": count,
            "last_activity_at": last,
            "created_at": created,
            "updated_at": min(now, last + timedelta(minutes=rng.uniform(0, 60))),
        }
        rows.append(conversation)
        plans.append((conversation, times))
    # A bulk change without messages: old conversations closed half an hour ago.
    old = [row for row in rows if row["last_activity_at"] < now - YEAR / 2]
    for row in rng.sample(old, min(len(old), BULK_CLOSED)):
        row["status"] = "closed"
        row["snoozed_until"] = None
        row["updated_at"] = now - timedelta(minutes=30)
    rows.sort(key=lambda row: (row["created_at"], row["id"]))

    def message_rows() -> Iterator[dict[str, Any]]:
        for conversation, times in plans:
            for seq, moment in enumerate(times, start=1):
                operator = seq % 2 == 0
                yield {
                    "id": id_from("msg", _millis(moment), rng.getrandbits(80)),
                    "workspace_id": workspace_id,
                    "conversation_id": conversation["id"],
                    "seq": seq,
                    "author": "operator" if operator else "contact",
                    "person_id": conversation["assignee_id"] if operator else None,
                    "text": " ".join(rng.choices(WORDS, k=rng.randint(3, 25))),
                    "quarantined": conversation["status"] == "spam" and not operator,
                    "created_at": moment,
                }

    return Rows(people, contacts, rows, message_rows())


TABLES = (
    ("people", PERSON_COLUMNS),
    ("contacts", CONTACT_COLUMNS),
    ("conversations", CONVERSATION_COLUMNS),
    ("messages", MESSAGE_COLUMNS),
)


def _tables(rows: Rows) -> Iterator[tuple[str, tuple[str, ...], Iterator[dict[str, Any]]]]:
    sources = (iter(rows.people), iter(rows.contacts), iter(rows.conversations), rows.messages)
    for (table, columns), source in zip(TABLES, sources, strict=True):
        yield table, columns, source


def load_sqlite(path: str, workspaces: list[Rows]) -> int:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    loaded = 0
    for rows in workspaces:
        for table, columns, source in _tables(rows):
            marks = ", ".join("?" * len(columns))
            insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            for batch in batches(source, 50_000):
                conn.execute("BEGIN")
                conn.executemany(
                    insert, [tuple(sqlite_value(r[c]) for c in columns) for r in batch]
                )
                conn.execute("COMMIT")
                loaded += len(batch)
    conn.execute("ANALYZE")
    conn.close()
    return loaded


def load_postgresql(url: str, workspaces: list[Rows]) -> int:
    import psycopg

    loaded = 0
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("SET synchronous_commit = off")
        for rows in workspaces:
            for table, columns, source in _tables(rows):
                with (
                    conn.cursor() as cur,
                    cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
                ):
                    for row in source:
                        copy.write_row(tuple(row[c] for c in columns))
                        loaded += 1
                conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return loaded


async def _keys(url: str) -> tuple[str, str, str]:
    db = Database(Settings(database_url=url))
    try:
        async with db.transaction() as session:
            issued = await create_key(session, workspace_slug="bench", role="admin")
            other = await create_key(session, workspace_slug="bench-other", role="admin")
        return issued.token, issued.workspace.id, other.workspace.id
    finally:
        await db.dispose()


# ------------------------------------------------------------------------------ measuring


@dataclass
class Result:
    name: str
    query: str
    listed: int
    n: int
    p50: float
    p99: float
    errors: int


def queries(rows: Rows, now: datetime) -> list[tuple[str, str, dict[str, str]]]:
    """What is timed: (name, path, query). The filters' values are picked from the data: the
    assignee with the most conversations, a contact with several, a cursor half-way down."""
    by_assignee: dict[str, int] = {}
    by_contact: dict[str, int] = {}
    for row in rows.conversations:
        if row["assignee_id"]:
            by_assignee[row["assignee_id"]] = by_assignee.get(row["assignee_id"], 0) + 1
        by_contact[row["contact_id"]] = by_contact.get(row["contact_id"], 0) + 1
    assignee = max(by_assignee, key=lambda key: by_assignee[key])
    contact = max(by_contact, key=lambda key: by_contact[key])
    ordered = sorted(
        rows.conversations, key=lambda row: (row["last_activity_at"], row["id"]), reverse=True
    )
    middle = ordered[len(ordered) // 2]
    cursor = cursors.encode(
        {
            "last_activity_at": cursors.time_key(middle["last_activity_at"].replace(tzinfo=UTC)),
            "id": middle["id"],
        }
    )
    busiest = max(rows.conversations, key=lambda row: row["message_count"])
    path = "/api/v1/conversations"
    return [
        ("default (25)", path, {}),
        ("limit=100", path, {"limit": "100"}),
        ("half-way down (cursor)", path, {"after": cursor}),
        ("status=open", path, {"status": "open"}),
        ("status=closed", path, {"status": "closed"}),
        ("status=spam", path, {"status": "spam"}),
        ("assignee_id=<busiest>", path, {"assignee_id": assignee}),
        ("assignee_id=none", path, {"assignee_id": "none"}),
        ("status=open&assignee_id", path, {"status": "open", "assignee_id": assignee}),
        ("contact_id=<most conversations>", path, {"contact_id": contact}),
        (
            "updated_after=1 minute ago",
            path,
            {"updated_after": iso_millis(now - timedelta(minutes=1))},
        ),
        (
            "updated_after=1 hour ago (bulk)",
            path,
            {"updated_after": iso_millis(now - timedelta(hours=1))},
        ),
        (
            "updated_after=30 days ago",
            path,
            {"updated_after": iso_millis(now - timedelta(days=30))},
        ),
        ("updated_after=a year ago", path, {"updated_after": iso_millis(now - YEAR)}),
        (
            f"messages of one ({busiest['message_count']})",
            f"{path}/{busiest['id']}/messages",
            {"limit": "100"},
        ),
    ]


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
    listed = 0
    for _ in range(2):  # warm the caches and the connection
        client.get(path, params=params)
    deadline = time.monotonic() + seconds
    while len(timings) < requests and time.monotonic() < deadline:
        started = time.perf_counter()
        response = client.get(path, params=params)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            errors += 1
            if errors >= 5:
                print(f"  {name}: {response.status_code} {response.text[:300]}", flush=True)
                break
            continue
        timings.append(elapsed)
        listed = len(response.json()["data"])
    timings.sort()
    query = str(httpx.QueryParams(params)) or "-"
    return Result(
        name,
        query,
        listed,
        len(timings),
        percentile(timings, 0.5),
        percentile(timings, 0.99),
        errors,
    )


@dataclass
class Loaded:
    """A database filled by ``load``: the measured workspace's admin key, its rows, when the
    data ends, how many messages it has and how long loading took."""

    token: str
    rows: Rows
    now: datetime
    messages: int
    load_seconds: float


def load(backend: str, url: str, conversations: int, messages: int) -> Loaded:
    """Fill the fresh database at ``url`` with two workspaces' contacts, conversations and
    messages (bench/dashboard.py uses it for the Inbox pages)."""
    upgrade(Settings(database_url=url))
    token, ws, other_ws = asyncio.run(_keys(url))
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    main_rows = generate(ws, conversations, messages, now, seed=1)
    other_rows = generate(
        other_ws,
        OTHER_WORKSPACE_CONVERSATIONS,
        OTHER_WORKSPACE_CONVERSATIONS * messages // conversations,
        now,
        seed=2,
    )
    print(
        f"[{backend}] loading {conversations:,} conversations and about "
        f"{messages:,} messages (+{OTHER_WORKSPACE_CONVERSATIONS:,} elsewhere)...",
        flush=True,
    )
    started = time.perf_counter()
    if backend == "sqlite":
        loaded = load_sqlite(url.removeprefix("sqlite:///"), [main_rows, other_rows])
    else:
        loaded = load_postgresql(url, [main_rows, other_rows])
    load_seconds = time.perf_counter() - started
    counted = sum(row["message_count"] for row in main_rows.conversations)
    print(
        f"[{backend}] loaded {loaded:,} rows in {load_seconds:.0f}s "
        f"({counted:,} messages in the measured workspace)",
        flush=True,
    )
    return Loaded(token, main_rows, now, counted, load_seconds)


def run_backend(args: argparse.Namespace, backend: str) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="leadline-bench-inbox-"))
    url = fresh_database(backend, workdir, DATABASE)
    try:
        loaded = load(backend, url, args.conversations, args.messages)
        token, main_rows, now = loaded.token, loaded.rows, loaded.now
        messages, load_seconds = loaded.messages, loaded.load_seconds
        results = []
        os.environ["LEADLINE_API_RATE_LIMIT"] = "100000000"
        with serve(url) as base:
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                for name, path, params in queries(main_rows, now):
                    result = measure(client, name, path, params, args.requests, args.seconds)
                    results.append(result)
                    print(
                        f"[{backend}] {name:34} p50 {result.p50:7.1f} ms  "
                        f"p99 {result.p99:7.1f} ms  n={result.n} listed={result.listed}",
                        flush=True,
                    )
    finally:
        if not args.keep:
            drop_database(backend, DATABASE)
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n## {backend}: {args.conversations:,} conversations, {messages:,} messages\n")
    print("| GET | items | n | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r.name} | {r.listed} | {r.n} | {r.p50:.1f} | {r.p99:.1f} | {r.errors} |")
    sys.stdout.flush()
    return {
        "backend": backend,
        "conversations": args.conversations,
        "messages": messages,
        "load_seconds": load_seconds,
        "results": [asdict(r) for r in results],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000, help="about this many")
    parser.add_argument("--requests", type=int, default=200, help="requests per measurement")
    parser.add_argument("--seconds", type=float, default=15.0, help="time cap per measurement")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = [run_backend(args, backend) for backend in backends]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
