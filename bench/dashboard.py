"""Dashboard benchmark: the server time of its pages at realistic volumes, and what a page's
first load weighs.

Run from the repository root, for example::

    .venv/bin/python bench/dashboard.py --backend sqlite --leads 1000000
    .venv/bin/python bench/dashboard.py --backend sqlite --parts analytics inbox settings

Each part fills a database of its own, adds an owner who signs in to the dashboard, starts the
real app with uvicorn and times, signed in, over loopback, each page's p50 and p95:

- ``leads``: the leads of bench/leads.py (the same data, the same loader): the lead list as a
  page and as the htmx table, unfiltered and filtered, a search, a deep page, and lead pages;
  and the gzipped bytes of the JavaScript and CSS the list page loads.
- ``analytics``: the visits, events and submissions of bench/analytics.py (``--events`` over
  90 days, three sites, rollups filled): the Analytics page (the form and a placeholder per
  section) over 7, 30 and 90 days, for every site and for one; the same page with every
  section in it (``full=1``); each section's htmx fragment over 30 and 90 days; and the
  realtime fragment.
- ``inbox``: the conversations and messages of bench/inbox.py (``--conversations``,
  ``--messages``): the conversation list by status and assignee, its second page, and the
  thread of the longest conversation and of a typical one.
- ``settings``: in the analytics part's database (three sites, keys), with ``--articles``
  knowledge articles written through the knowledge service: every settings page, the site's
  page, the knowledge list, a search and an article.

See bench/README.md and docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import re
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import analytics as analytics_bench  # noqa: E402
from bench import inbox as inbox_bench  # noqa: E402
from bench import leads as lead_bench  # noqa: E402
from bench.databases import drop_database, fresh_database  # noqa: E402
from leadline.accounts import service as accounts  # noqa: E402
from leadline.audit.service import Actor  # noqa: E402
from leadline.auth.roles import Role  # noqa: E402
from leadline.auth.service import Principal  # noqa: E402
from leadline.config import Settings  # noqa: E402
from leadline.db import Database  # noqa: E402
from leadline.errors import NotFound  # noqa: E402
from leadline.knowledge import service as knowledge  # noqa: E402
from leadline.people import service as people  # noqa: E402
from leadline.web.analytics import SECTIONS  # noqa: E402
from leadline.workspaces import service as workspaces  # noqa: E402

# A PostgreSQL database of its own, so that it runs beside bench/leads.py.
lead_bench.PG_DATABASE = "leadline_bench_dashboard"
lead_bench.PG_URL = f"postgresql://postgres@{lead_bench.HOST}:5432/{lead_bench.PG_DATABASE}"

AIM_MS = 50.0
AIM_BYTES = 150_000
EMAIL = "owner@bench.example"
PASSWORD = "a long enough bench password"
HTMX = {"HX-Request": "true", "HX-Target": "leads-results"}
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
_ASSETS = re.compile(r'<(?:script[^>]*\ssrc|link[^>]*\shref)="(/app/static/[^"]+\.(?:js|css))"')
_LEAD_LINK = re.compile(r'href="/app/leads/(lead_[0-9a-z]+)"')
_OLDER = re.compile(r'href="(/app/inbox\?[^"]*after=[^"]+)">Older conversations')
_ARTICLE_LINK = re.compile(r'href="/app/knowledge/(kb_[0-9a-zA-Z]+)"')
ANALYTICS_DATABASE = "leadline_bench_dashboard_analytics"
INBOX_DATABASE = "leadline_bench_dashboard_inbox"
PARTS = ("leads", "analytics", "inbox", "settings")
TOPICS = (
    "delivery",
    "returns",
    "invoices",
    "opening hours",
    "warranty",
    "payment",
    "sizes",
    "repairs",
)


async def _add_owner(url: str) -> None:
    db = Database(Settings(database_url=url))
    try:
        async with db.transaction() as session:
            workspace, _ = await workspaces.get_or_create(session, "bench")
            try:
                person = await people.by_email(session, workspace.id, EMAIL)
            except NotFound:
                person = await people.add(
                    session,
                    workspace.id,
                    email=EMAIL,
                    name="Bench Owner",
                    role="owner",
                    actor=Actor.system("bench"),
                )
            await accounts.set_password(session, person, PASSWORD, actor=Actor.system("bench"))
    finally:
        await db.dispose()


def sign_in(client: httpx.Client) -> None:
    form = client.get("/app/signin")
    csrf = _CSRF.search(form.text)
    assert csrf is not None, form.text[:500]
    answer = client.post(
        "/app/signin",
        data={"csrf_token": csrf.group(1), "email": EMAIL, "password": PASSWORD, "next": "/app/"},
    )
    if answer.status_code != 200 or "/signin" in str(answer.url):
        raise RuntimeError(f"could not sign in: {answer.status_code} {answer.text[:300]}")


def pages(setup: lead_bench.Setup, lead_ids: list[str]) -> list[tuple[str, str, dict[str, str]]]:
    """(name, path, headers) of every page timed."""
    recent = (setup.now - timedelta(days=30)).strftime("%Y-%m-%d")
    s = setup.samples
    return [
        ("list, default", "/app/leads", {}),
        ("list, default (htmx table)", "/app/leads", HTMX),
        ("list, status=won", "/app/leads?status=won", HTMX),
        ("list, status=open,qualified", "/app/leads?status=open&status=qualified", HTMX),
        (
            "list, utm_source + 30 days",
            f"/app/leads?utm_source=google&created_at[gte]={recent}",
            HTMX,
        ),
        ("list, has gclid", "/app/leads?click=gclid", HTMX),
        ("list, one gclid", f"/app/leads?gclid={s['gclid']}", HTMX),
        ("list, sort value:desc", "/app/leads?sort=value:desc", HTMX),
        ("list, search a surname", "/app/leads?search=dijkstra", HTMX),
        ("list, page 200", "/app/leads?page=200", HTMX),
        ("list, 100 a page", "/app/leads?limit=100", HTMX),
        *(
            (f"lead page #{n + 1}", f"/app/leads/{lead_id}", {})
            for n, lead_id in enumerate(lead_ids)
        ),
    ]


def measure(
    client: httpx.Client, path: str, headers: dict[str, str], n: int
) -> tuple[float, float, int]:
    for _ in range(2):  # warm the caches and the connection
        client.get(path, headers=headers)
    timings: list[float] = []
    errors = 0
    for _ in range(n):
        started = time.perf_counter()
        answer = client.get(path, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code != 200:
            errors += 1
            continue
        timings.append(elapsed)
    timings.sort()
    return lead_bench.percentile(timings, 0.5), lead_bench.percentile(timings, 0.95), errors


def first_load_bytes(client: httpx.Client, html: str) -> list[tuple[str, int, int]]:
    """(path, bytes, gzipped bytes) of each script and stylesheet the page loads."""
    found = []
    for path in dict.fromkeys(_ASSETS.findall(html)):
        body = client.get(path).content
        found.append((path, len(body), len(gzip.compress(body, compresslevel=6))))
    return found


def print_table(
    title: str, client: httpx.Client, timed: list[tuple[str, str, dict[str, str]]], n: int
) -> None:
    print(f"\n## {title}\n")
    print(f"| page | p50 ms | p95 ms | under {AIM_MS:.0f} ms p95 |")
    print("|---|---:|---:|---|")
    for name, path, headers in timed:
        p50, p95, errors = measure(client, path, headers, n)
        verdict = "yes" if p95 <= AIM_MS and not errors else "**no**"
        if errors:
            verdict += f" ({errors} errors)"
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {verdict} |", flush=True)


async def _write_articles(url: str, count: int) -> None:
    """``count`` published knowledge articles of a few paragraphs each, through the service
    (chunked as on every save)."""
    db = Database(Settings(database_url=url))
    try:
        async with db.transaction() as session:
            workspace = await workspaces.require(session, "bench")
            principal = Principal(workspace=workspace, key_id="", role=Role.ADMIN)
            for number in range(count):
                topic = TOPICS[number % len(TOPICS)]
                body = "\n\n".join(
                    f"## {topic.title()} question {number}.{part}\n\n"
                    f"How {topic} works for order {number}: we answer within {part + 1} days, "
                    f"in Lisbon and Porto, by email or phone. Article {number} part {part}."
                    for part in range(6)
                )
                await knowledge.create_article(
                    session,
                    principal,
                    title=f"{topic.title()} #{number}",
                    body=body,
                    tags=[topic],
                    published=True,
                    provider=None,
                )
    finally:
        await db.dispose()


def run_analytics_and_settings(args: argparse.Namespace, backend: str, parts: set[str]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="leadline-bench-dashboard-"))
    url = fresh_database(backend, workdir, ANALYTICS_DATABASE)
    try:
        loaded = analytics_bench.load(backend, url, args.events, 90)
        asyncio.run(_add_owner(url))
        if "settings" in parts:
            started = time.perf_counter()
            asyncio.run(_write_articles(url, args.articles))
            print(
                f"[{backend}] {args.articles:,} articles written in "
                f"{time.perf_counter() - started:.0f}s",
                flush=True,
            )
        site = loaded.plan.site_ids[0]
        rows = loaded.rows
        with (
            lead_bench.serve(url) as base,
            httpx.Client(base_url=base, timeout=120, follow_redirects=True) as client,
        ):
            sign_in(client)
            if "analytics" in parts:
                realtime = {"HX-Request": "true", "HX-Target": "realtime"}
                print_table(
                    f"{backend}: {rows.events:,} events, {len(rows.visits):,} visits over 90 "
                    "days, the Analytics page",
                    client,
                    [
                        ("analytics, 30 days (default)", "/app/analytics", {}),
                        ("analytics, 30 days, one site", f"/app/analytics?site={site}", {}),
                        ("analytics, 7 days", "/app/analytics?range=7", {}),
                        ("analytics, 90 days", "/app/analytics?range=90", {}),
                        (
                            "analytics, 30 days, Europe/Amsterdam",
                            "/app/analytics?tz=Europe/Amsterdam",
                            {},
                        ),
                        ("realtime fragment", "/app/analytics/realtime", realtime),
                        ("analytics, 30 days, every section (full=1)", "/app/analytics?full=1", {}),
                        *(
                            (
                                f"section {section}, 30 days",
                                f"/app/analytics/sections/{section}?range=30&tz=UTC",
                                {"HX-Request": "true", "HX-Trigger": f"section-{section}"},
                            )
                            for section in SECTIONS
                        ),
                        *(
                            (
                                f"section {section}, 90 days",
                                f"/app/analytics/sections/{section}?range=90&tz=UTC",
                                {"HX-Request": "true", "HX-Trigger": f"section-{section}"},
                            )
                            for section in SECTIONS
                        ),
                    ],
                    args.requests,
                )
            if "settings" in parts:
                listed = client.get("/app/knowledge")
                articles = list(dict.fromkeys(_ARTICLE_LINK.findall(listed.text)))[:1]
                print_table(
                    f"{backend}: three sites, {args.articles:,} knowledge articles, the "
                    "Settings and Knowledge pages",
                    client,
                    [
                        ("settings index", "/app/settings", {}),
                        ("API keys", "/app/settings/keys", {}),
                        ("marketing keys", "/app/settings/marketing-keys", {}),
                        ("tokens", "/app/settings/tokens", {}),
                        ("people", "/app/settings/people", {}),
                        ("sites", "/app/settings/sites", {}),
                        ("a site (tracking seen, forms)", f"/app/settings/sites/{site}", {}),
                        ("webhooks", "/app/settings/webhooks", {}),
                        ("IP lists", "/app/settings/addresses", {}),
                        ("consent and retention", "/app/settings/privacy", {}),
                        ("conversions", "/app/settings/conversions", {}),
                        ("chat widget", "/app/settings/widget", {}),
                        ("AI replies", "/app/settings/assistant", {}),
                        ("knowledge, newest 25", "/app/knowledge", {}),
                        ("knowledge, search", "/app/knowledge?q=refund+in+porto+warranty", {}),
                        *(
                            ("knowledge, an article", f"/app/knowledge/{article}", {})
                            for article in articles
                        ),
                    ],
                    args.requests,
                )
    finally:
        if not args.keep:
            drop_database(backend, ANALYTICS_DATABASE)
            shutil.rmtree(workdir, ignore_errors=True)


def run_inbox(args: argparse.Namespace, backend: str) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="leadline-bench-dashboard-"))
    url = fresh_database(backend, workdir, INBOX_DATABASE)
    try:
        loaded = inbox_bench.load(backend, url, args.conversations, args.messages)
        asyncio.run(_add_owner(url))
        ordered = sorted(loaded.rows.conversations, key=lambda row: row["message_count"])
        busiest, typical = ordered[-1], ordered[len(ordered) // 2]
        with (
            lead_bench.serve(url) as base,
            httpx.Client(base_url=base, timeout=120, follow_redirects=True) as client,
        ):
            sign_in(client)
            first = client.get("/app/inbox?status=all")
            older = _OLDER.search(first.text)
            timed: list[tuple[str, str, dict[str, str]]] = [
                ("inbox, open (default)", "/app/inbox", {}),
                ("inbox, every status", "/app/inbox?status=all", {}),
                ("inbox, closed", "/app/inbox?status=closed", {}),
                ("inbox, unassigned", "/app/inbox?assignee=unassigned", {}),
                ("inbox, mine", "/app/inbox?assignee=mine", {}),
            ]
            if older:
                timed.append(
                    ("inbox, every status, page 2", older.group(1).replace("&amp;", "&"), {})
                )
            timed += [
                (
                    f"thread, longest ({busiest['message_count']} messages)",
                    f"/app/inbox/{busiest['id']}",
                    {},
                ),
                (
                    f"thread, typical ({typical['message_count']} messages)",
                    f"/app/inbox/{typical['id']}",
                    {},
                ),
            ]
            print_table(
                f"{backend}: {args.conversations:,} conversations, {loaded.messages:,} "
                "messages, the Inbox pages",
                client,
                timed,
                args.requests,
            )
    finally:
        if not args.keep:
            drop_database(backend, INBOX_DATABASE)
            shutil.rmtree(workdir, ignore_errors=True)


def run_backend(args: argparse.Namespace, backend: str) -> None:
    parts = set(args.parts)
    if "leads" in parts:
        run_leads(args, backend)
    if parts & {"analytics", "settings"}:
        run_analytics_and_settings(args, backend, parts)
    if "inbox" in parts:
        run_inbox(args, backend)


def run_leads(args: argparse.Namespace, backend: str) -> None:
    setup = lead_bench.prepare(backend, args.leads, args.sqlite_path, args.reuse)
    asyncio.run(_add_owner(setup.url))
    try:
        with (
            lead_bench.serve(setup.url) as base,
            httpx.Client(base_url=base, timeout=60, follow_redirects=True) as client,
        ):
            sign_in(client)
            listed = client.get("/app/leads")
            lead_ids = list(dict.fromkeys(_LEAD_LINK.findall(listed.text)))[:3]
            deep = client.get("/app/leads?page=5000", headers=HTMX)
            lead_ids += list(dict.fromkeys(_LEAD_LINK.findall(deep.text)))[:2]
            print(f"\n## {backend}: {setup.leads:,} leads, the Leads pages\n")
            print(f"| page | p50 ms | p95 ms | under {AIM_MS:.0f} ms p95 |")
            print("|---|---:|---:|---|")
            for name, path, headers in pages(setup, lead_ids):
                p50, p95, errors = measure(client, path, headers, args.requests)
                verdict = "yes" if p95 <= AIM_MS and not errors else "**no**"
                if errors:
                    verdict += f" ({errors} errors)"
                print(f"| {name} | {p50:.1f} | {p95:.1f} | {verdict} |", flush=True)
            assets = first_load_bytes(client, listed.text)
            total = sum(zipped for _, _, zipped in assets)
            print("\n| first load of /app/leads | bytes | gzipped |")
            print("|---|---:|---:|")
            for path, size, zipped in assets:
                print(f"| {path} | {size:,} | {zipped:,} |")
            verdict = "under" if total <= AIM_BYTES else "**over**"
            print(f"| total JS + CSS | | {total:,} ({verdict} {AIM_BYTES // 1000} KB) |")
    finally:
        if not args.keep:
            lead_bench.drop(setup)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--parts", nargs="+", choices=PARTS, default=list(PARTS), help="which pages to time"
    )
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads in the workspace")
    parser.add_argument("--events", type=int, default=1_000_000, help="tracked events, about")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000, help="about this many")
    parser.add_argument("--articles", type=int, default=1_000, help="knowledge articles")
    parser.add_argument("--requests", type=int, default=100, help="requests per page")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept database if present")
    parser.add_argument("--sqlite-path", help="SQLite file (default: a new temporary directory)")
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        run_backend(args, backend)


if __name__ == "__main__":
    main()
