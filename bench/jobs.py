"""Job queue throughput: enqueue rate, and jobs run per second by 1..N worker processes.

    .venv/bin/python bench/jobs.py --backend both --jobs 20000 --workers 1 2

Each measurement starts from an empty queue, enqueues ``--jobs`` no-op jobs (in transactions of
1,000), starts the worker processes (this script, re-run with ``--as-worker``) and times until
every job has succeeded. The no-op task does nothing, so the figures are the queue's own cost:
claiming, leasing, recording each outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, func, select  # noqa: E402

from bench.databases import drop_database, fresh_database  # noqa: E402
from leadline.config import Settings  # noqa: E402
from leadline.db import Database  # noqa: E402
from leadline.jobs import service as jobs  # noqa: E402
from leadline.jobs.registry import JobContext, task  # noqa: E402
from leadline.migrations import upgrade  # noqa: E402
from leadline.models import Job  # noqa: E402

PG_DATABASE = "leadline_bench_jobs"
KIND = "bench.noop"


@task(KIND, max_attempts=3)
async def noop(context: JobContext, payload: dict[str, Any]) -> None:
    return None


async def _reset_and_enqueue(settings: Settings, count: int) -> float:
    db = Database(settings)
    try:
        async with db.transaction() as session:
            await session.execute(delete(Job))
        started = time.perf_counter()
        for start in range(0, count, 1000):
            async with db.transaction() as session:
                await jobs.enqueue_many(session, KIND, [{}] * min(1000, count - start))
        return time.perf_counter() - started
    finally:
        await db.dispose()


async def _succeeded(settings: Settings) -> int:
    db = Database(settings)
    try:
        async with db.transaction() as session:
            result = await session.execute(
                select(func.count()).where(Job.kind == KIND, Job.state == "succeeded")
            )
            return int(result.scalar_one())
    finally:
        await db.dispose()


def measure(url: str, count: int, workers: int, concurrency: int) -> dict[str, float]:
    settings = Settings(database_url=url)
    enqueue_seconds = asyncio.run(_reset_and_enqueue(settings, count))
    env = {**os.environ, "LEADLINE_LOG_LEVEL": "warning", "LEADLINE_JOBS_POLL_SECONDS": "0.05"}
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--as-worker", url, "--concurrency", str(concurrency)],
            env=env,
        )
        for _ in range(workers)
    ]
    try:
        while asyncio.run(_succeeded(settings)) < count:
            if any(proc.poll() is not None for proc in procs):
                raise RuntimeError("a worker exited early")
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
    return {
        "enqueue_per_second": count / enqueue_seconds,
        "run_per_second": count / elapsed,
        "seconds": elapsed,
    }


def as_worker(url: str, concurrency: int) -> None:
    from leadline.jobs.worker import run_worker

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_worker(Settings(database_url=url), stop, concurrency=concurrency)

    asyncio.run(main())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=8, help="jobs at once per worker")
    parser.add_argument("--as-worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.as_worker:
        as_worker(args.as_worker, args.concurrency)
        return
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    rows = []
    with tempfile.TemporaryDirectory(prefix="leadline-bench-jobs-") as tmp:
        for backend in backends:
            url = fresh_database(backend, Path(tmp), PG_DATABASE)
            upgrade(Settings(database_url=url))
            for workers in args.workers:
                figures = measure(url, args.jobs, workers, args.concurrency)
                print(
                    f"[{backend}] {workers} worker(s) x {args.concurrency}: "
                    f"enqueue {figures['enqueue_per_second']:,.0f} jobs/s, "
                    f"run {figures['run_per_second']:,.0f} jobs/s ({figures['seconds']:.1f} s)",
                    flush=True,
                )
                rows.append((backend, workers, figures))
            drop_database(backend, PG_DATABASE)
    print()
    print(
        f"| Database | workers x jobs at once | enqueue jobs/s | run jobs/s ({args.jobs:,} jobs) |"
    )
    print("|---|---|---:|---:|")
    for backend, workers, figures in rows:
        name = "SQLite" if backend == "sqlite" else "PostgreSQL"
        print(
            f"| {name} | {workers} x {args.concurrency} | {figures['enqueue_per_second']:,.0f} "
            f"| {figures['run_per_second']:,.0f} |"
        )


if __name__ == "__main__":
    main()
