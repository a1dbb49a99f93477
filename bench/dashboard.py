"""Dashboard benchmark: the Leads pages at a million leads, and what a page's first load weighs.

Run from the repository root, for example::

    .venv/bin/python bench/dashboard.py --backend sqlite --leads 1000000

It loads the leads as bench/leads.py does (the same data, the same loader; on PostgreSQL into
a database of its own), adds an owner who signs in to the dashboard, starts the
real app with uvicorn and times, signed in, over loopback: the lead list as a page and as the
htmx table, unfiltered and filtered, a search, a deep page, and lead pages. It prints p50 and
p95 per page, and the gzipped bytes of the JavaScript and CSS the list page loads.

See bench/README.md and docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import re
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import leads as lead_bench  # noqa: E402
from leadline.accounts import service as accounts  # noqa: E402
from leadline.audit.service import Actor  # noqa: E402
from leadline.config import Settings  # noqa: E402
from leadline.db import Database  # noqa: E402
from leadline.errors import NotFound  # noqa: E402
from leadline.people import service as people  # noqa: E402
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


def run_backend(args: argparse.Namespace, backend: str) -> None:
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
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads in the workspace")
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
