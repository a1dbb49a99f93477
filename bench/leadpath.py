"""The lead path over HTTP: the key check, reading a lead, creating leads and capturing
submissions, each beside the same app's no-op route, at peak and at half of peak.

    .venv/bin/python bench/leadpath.py --backend both

Load comes from wrk (one thread, pinned to CPU 0) through bench/ingest.lua; the server is one
uvicorn process running bench/ingest_app.py (the production app plus ``POST /bench/noop``),
pinned to CPU 1, as for bench/ingest.py. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import connect, drop_database, fresh_database  # noqa: E402
from bench.ingest import (  # noqa: E402
    NOOP_PATH,
    CpuMeter,
    Processes,
    Run,
    Tools,
    bench_site,
    find_tools,
    leadline,
    leadline_env,
    server,
    wrk,
)

PG_DATABASE = "leadline_bench_leadpath"
ROUTES = ("noop", "check", "get", "create", "capture")
FIRST_NAMES = ("Anna", "Ben", "Chloe", "Daan", "Emma", "Finn", "Julia", "Lars", "Noah", "Sara")
LAST_NAMES = ("de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Bos")


def lead_body(n: int, rng: random.Random) -> dict[str, Any]:
    """A realistic lead as a site's backend sends it: a person, the page, a click, tags."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return {
        "name": f"{first} {last}",
        "email": f"{first.lower()}.{n}@example.com",
        "phone": f"+31 6 {rng.randrange(10_000_000, 99_999_999)}",
        "website": "https://bench.example",
        "path": "/contact",
        "gclid": f"Cj0KCQiA{rng.getrandbits(64):016x}",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": rng.choice(("spring", "summer", "brand", "generic")),
        "ad_user_data": "granted",
        "ad_storage": "granted",
        "custom": {"company": f"{last} BV", "budget": rng.choice(("5k", "10k", "25k"))},
    }


def capture_body(n: int, rng: random.Random, repeats: float) -> dict[str, Any]:
    """A form's fields; a share ``repeats`` of them come again from an earlier person."""
    person = rng.randrange(max(n, 1)) if n and rng.random() < repeats else n
    first = FIRST_NAMES[person % len(FIRST_NAMES)]
    return {
        "name": f"{first} {LAST_NAMES[person % len(LAST_NAMES)]}",
        "email": f"{first.lower()}.{person}@example.com",
        "phone": f"+31 6 {10_000_000 + person}",
        "message": "Please call me back about a quote.",
        "utm_source": "google",
        "gclid": f"Cj0KCQiA{person:016x}",
    }


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Target:
    name: str
    url: str
    lines: Path
    headers: dict[str, str]
    method: str = "POST"
    stores_leads: bool = False


@dataclass
class Measurement:
    name: str
    peak: Run
    half: Run | None = None
    # Leads in the database after each phase minus before it, and the 2xx answers of that phase.
    stored: dict[str, tuple[int, int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class LeadCounter:
    def __init__(self, backend: str, url: str) -> None:
        self.conn = connect(backend, url)

    def submissions_and_leads(self) -> int:
        row = self.conn.execute(
            "SELECT (SELECT count(*) FROM leads) + (SELECT count(*) FROM lead_submissions)"
        ).fetchone()
        return int(row[0])

    def close(self) -> None:
        self.conn.close()


def measure(
    processes: Processes,
    tools: Tools,
    args: argparse.Namespace,
    backend: str,
    target: Target,
    meter: CpuMeter,
    counter: LeadCounter,
) -> Measurement:
    label = f"[{backend}] {target.name}"

    def timed(rate: float | None, phase: str, measurement: Measurement | None) -> Run:
        wrk(
            processes,
            tools,
            target.url,
            target.lines,
            args.connections,
            args.warmup,
            rate,
            headers=target.headers,
            method=target.method,
        )
        before = counter.submissions_and_leads()
        cpu = meter.start()
        run = wrk(
            processes,
            tools,
            target.url,
            target.lines,
            args.connections,
            args.duration,
            rate,
            headers=target.headers,
            method=target.method,
        )
        meter.stop(run, cpu)
        if measurement is not None and target.stores_leads:
            time.sleep(0.5)  # requests in flight when wrk stopped
            measurement.stored[phase] = (counter.submissions_and_leads() - before, run.ok)
        return run

    peak = timed(None, "peak", None)
    measurement = Measurement(target.name, peak)
    print(
        f"{label}: peak {peak.ok_rate:,.0f} req/s (2xx), p50 {peak.p50_ms:.2f} ms, "
        f"p99 {peak.p99_ms:.2f} ms, max {peak.max_ms:.1f} ms",
        flush=True,
    )
    _errors(label, "peak", peak, measurement)
    if peak.ok_rate > 0:
        half = timed(peak.ok_rate / 2, "half", measurement)
        measurement.half = half
        print(
            f"{label}: half of peak {half.ok_rate:,.0f} req/s, p50 {half.p50_ms:.2f} ms, "
            f"p99 {half.p99_ms:.2f} ms, max {half.max_ms:.1f} ms",
            flush=True,
        )
        _errors(label, "half", half, measurement)
    return measurement


def _errors(label: str, phase: str, run: Run, measurement: Measurement) -> None:
    if run.non_2xx or run.socket_errors or run.timeouts:
        warning = (
            f"{label} {phase}: {run.non_2xx:,} non-2xx, {run.socket_errors:,} socket errors, "
            f"{run.timeouts:,} timeouts (of {run.requests:,})"
        )
        measurement.warnings.append(warning)
        print(f"  ! {warning}", flush=True)


def run_backend(
    processes: Processes, tools: Tools, args: argparse.Namespace, backend: str, workdir: Path
) -> list[list[Measurement]]:
    work = workdir / backend
    work.mkdir(parents=True, exist_ok=True)
    url = fresh_database(backend, workdir, PG_DATABASE)
    env = leadline_env(url)
    counter: LeadCounter | None = None
    try:
        print(f"[{backend}] migrating {url}", flush=True)
        bench_site(env)
        created = leadline(["keys", "create", "--workspace", "bench", "--role", "integration"], env)
        key = created.strip().splitlines()[-1]
        # Integration keys create leads but may not read them.
        admin = leadline(["keys", "create", "--workspace", "bench", "--role", "admin"], env)
        admin_key = admin.strip().splitlines()[-1]
        rng = random.Random(7)
        api = {"X-API-KEY": key, "Content-Type": "application/json"}
        leads = write_lines(
            work / "leads.txt", [json.dumps(lead_body(n, rng)) for n in range(args.bodies)]
        )
        captures = write_lines(
            work / "captures.txt",
            [json.dumps(capture_body(n, rng, args.repeats)) for n in range(args.bodies)],
        )
        counter = LeadCounter(backend, url)
        rounds: list[list[Measurement]] = []
        with server(processes, tools, env, work / "server.log") as (base, pid):
            meter = CpuMeter(pid, database=backend == "postgresql")
            made = httpx.post(f"{base}/api/leads", json=lead_body(0, rng), headers=api)
            made.raise_for_status()
            lead_id = made.json()["data"]["id"]
            empty = write_lines(work / "empty.txt", ["{}"])
            targets = {
                "noop": Target(f"no-op route (POST {NOOP_PATH})", base + NOOP_PATH, empty, {}),
                "check": Target("POST /api/check", base + "/api/check", empty, api),
                "get": Target(
                    "GET /api/leads/{id}",
                    base,
                    write_lines(work / "get.txt", [f"/api/leads/{lead_id}"]),
                    {"X-API-KEY": admin_key},
                    method="GET",
                ),
                "create": Target(
                    "POST /api/leads (new leads)",
                    base + "/api/leads",
                    leads,
                    api,
                    stores_leads=True,
                ),
                "capture": Target(
                    f"POST /lead.capture (JSON, {args.repeats:.0%} repeats)",
                    base + "/lead.capture",
                    captures,
                    {"X-API-Key": key, "Content-Type": "application/json"},
                    stores_leads=True,
                ),
            }
            chosen = [targets[name] for name in ROUTES if name in args.routes]
            for number in range(1, args.rounds + 1):
                if args.rounds > 1:
                    print(f"[{backend}] round {number} of {args.rounds}", flush=True)
                rounds.append(
                    [measure(processes, tools, args, backend, t, meter, counter) for t in chosen]
                )
        return rounds
    finally:
        if counter is not None:
            counter.close()
        drop_database(backend, PG_DATABASE)
        if backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(url.removeprefix("sqlite:///") + suffix)


def report(backend: str, rounds: list[list[Measurement]]) -> None:
    print(f"\n### {backend}\n")
    print(
        "| round | request | peak req/s | x no-op | p50 / p99 / max at peak (ms) "
        "| half-peak req/s | p99 / max at half (ms) | server CPU/request (us) |"
    )
    print("|---|---|---:|---:|---|---:|---|---:|")
    for number, measurements in enumerate(rounds, start=1):
        noop = next((m for m in measurements if m.name.startswith("no-op")), None)
        for m in measurements:
            ratio = (
                f"{m.peak.ok_rate / noop.peak.ok_rate:.2f}"
                if noop is not None and noop.peak.ok_rate
                else "-"
            )
            cpu = m.peak.per_request_us(m.peak.server_cpu)
            half = (
                f"{m.half.ok_rate:,.0f} | {m.half.p99_ms:.1f} / {m.half.max_ms:.1f}"
                if m.half
                else "- | -"
            )
            print(
                f"| {number} | {m.name} | {m.peak.ok_rate:,.0f} | {ratio} "
                f"| {m.peak.p50_ms:.1f} / {m.peak.p99_ms:.1f} / {m.peak.max_ms:.1f} | {half} "
                f"| {cpu:,.0f} |"
                if cpu is not None
                else f"| {number} | {m.name} | {m.peak.ok_rate:,.0f} | {ratio} | - | {half} | - |"
            )
    for measurements in rounds:
        for m in measurements:
            for phase, (stored, ok) in m.stored.items():
                note = "" if stored >= ok else f"  <- {ok - stored:,} ANSWERED 2xx BUT NOT STORED"
                print(f"  {m.name} {phase}: {ok:,} answered 2xx, {stored:,} rows stored{note}")
            for warning in m.warnings:
                print(f"  ! {warning}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--routes", nargs="+", choices=ROUTES, default=list(ROUTES))
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each run")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--bodies", type=int, default=50_000, help="distinct request bodies")
    parser.add_argument("--repeats", type=float, default=0.2, help="share of repeat captures")
    args = parser.parse_args(argv)
    tools = find_tools()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    processes = Processes()
    try:
        with tempfile.TemporaryDirectory(prefix="leadline-leadpath-") as tmp:
            results = {b: run_backend(processes, tools, args, b, Path(tmp)) for b in backends}
    finally:
        processes.stop_all()
    for backend, rounds in results.items():
        report(backend, rounds)


if __name__ == "__main__":
    main()
