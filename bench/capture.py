"""Lead capture: requests per second ``POST /lead.capture`` takes, at peak and at half of peak,
and p99, on SQLite and PostgreSQL.

    .venv/bin/python bench/capture.py --backend both

The same set-up as bench/ingest.py (wrk on one core, one uvicorn process on the other, over
loopback): a site with a form, then wrk posting JSON submissions from a page of the site. The
bodies cycle through ``--people`` distinct people (email and name), so the first pass makes a
lead per person and the later ones join their leads: both paths are measured together. Every
2xx answer must have left a submission in the database.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ingest  # noqa: E402
from bench.databases import drop_database, fresh_database  # noqa: E402

DATABASE = "leadline_bench_capture"
FORM = {
    "fields": [
        {"name": "FIRSTNAME", "label": "Name", "required": True},
        {"name": "EMAIL", "type": "email", "label": "Email", "required": True},
        {"name": "PROJECT", "type": "hidden", "value": "Riverside"},
    ]
}


def write_bodies(path: Path, site_key: str, people: int) -> Path:
    lines = [
        json.dumps(
            {
                "siteKey": site_key,
                "formId": "enquiry",
                "FIRSTNAME": f"Person {n}",
                "EMAIL": f"person{n}@bench.example",
                "PROJECT": "Riverside",
                "__pg_tts": "30",
            },
            separators=(",", ":"),
        )
        for n in range(people)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def submissions(backend: str, url: str) -> int:
    if backend == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            (count,) = connection.execute("SELECT count(*) FROM lead_submissions").fetchone()
            return int(count)
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
        row = connection.execute("SELECT count(*) FROM lead_submissions").fetchone()
        return int(row[0]) if row else 0


def run_backend(args: argparse.Namespace, backend: str, work: Path) -> dict[str, Any]:
    processes = ingest.Processes()
    tools = ingest.find_tools()
    url = fresh_database(backend, work, DATABASE)
    env = ingest.leadline_env(url)
    try:
        print(f"[{backend}] migrating {url}", flush=True)
        site_key = ingest.bench_site(env)
        form = work / "form.json"
        form.write_text(json.dumps(FORM))
        ingest.leadline(
            ["forms", "create", "--site", site_key, "--form-id", "enquiry", "--file", str(form)],
            env,
        )
        bodies = write_bodies(work / "capture.txt", site_key, args.people)
        with ingest.server(processes, tools, env, work / "server.log") as (base, _):
            target = base + "/lead.capture"
            ingest.wrk(processes, tools, target, bodies, args.connections, args.warmup)
            before = submissions(backend, url)
            peak = ingest.wrk(processes, tools, target, bodies, args.connections, args.duration)
            after_peak = submissions(backend, url)
            half = ingest.wrk(
                processes,
                tools,
                target,
                bodies,
                args.connections,
                args.duration,
                peak.ok_rate / 2,
            )
            after_half = submissions(backend, url)
        for label, run, stored in (
            ("peak", peak, after_peak - before),
            ("half", half, after_half - after_peak),
        ):
            if stored < run.ok:
                raise SystemExit(
                    f"[{backend}] {label}: {run.ok} answered 2xx but {stored} submissions stored"
                )
            if run.non_2xx or run.socket_errors or run.timeouts:
                print(
                    f"[{backend}] {label}: {run.non_2xx} non-2xx, {run.socket_errors} socket"
                    f" errors, {run.timeouts} timeouts",
                    flush=True,
                )
        return {"backend": backend, "peak": peak, "half": half}
    finally:
        processes.stop_all()
        drop_database(backend, DATABASE)
        if backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--people", type=int, default=5000, help="distinct people in the bodies")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = []
    with tempfile.TemporaryDirectory(prefix="leadline-bench-capture-") as directory:
        for backend in backends:
            work = Path(directory) / backend
            work.mkdir()
            results.append(run_backend(args, backend, work))
    print(f"\n## POST /lead.capture: {args.connections} connections, {args.duration} s each\n")
    print(
        "| database | req/s at peak | p50 ms | p99 ms | req/s at half peak | p99 ms at half peak |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for result in results:
        peak, half = result["peak"], result["half"]
        print(
            f"| {result['backend']} | {peak.ok_rate:,.0f} | {peak.p50_ms:.1f} | {peak.p99_ms:.1f}"
            f" | {half.ok_rate:,.0f} | {half.p99_ms:.1f} |"
        )


if __name__ == "__main__":
    main()
