"""Webhook deliveries per second to a local receiver, by real `leadline worker` processes.

    .venv/bin/python bench/webhooks.py --backend both --events 10000 --workers 2

Each run creates a workspace with ``--endpoints`` endpoints (default one) pointing at a local
HTTP receiver in a process of its own, emits ``--events`` events (100 per transaction, as a
lead import would), then starts ``--workers`` `leadline worker` processes (the command-line
entry point, ``--concurrency`` jobs at once each) and waits until every delivery is recorded as
delivered: sign, POST, read the answer, log the attempt, settle.

Two rates are printed: deliveries per second from the first attempt to the last delivery (the
workers' steady rate, from the attempts' own timestamps) and from starting the processes to
the last delivery (Python's start-up included). The receiver is a bare asyncio protocol that
answers each request on its keep-alive connection with ``200 ok`` and costs little CPU, so
that most of the machine is left to the workers and the database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.databases import drop_database, fresh_database  # noqa: E402
from leadline.auth import service as auth  # noqa: E402
from leadline.config import Settings  # noqa: E402
from leadline.db import Database  # noqa: E402
from leadline.migrations import upgrade  # noqa: E402
from leadline.models import WebhookAttempt, WebhookDelivery  # noqa: E402
from leadline.webhooks import service as webhooks  # noqa: E402

# The receiver: a protocol that splits the byte stream into requests (headers, then
# Content-Length bytes of body) and answers each at once, pipelined or not. Its own process, so
# it does not share an interpreter lock with anything measured; uvloop when it is installed.
RECEIVER = r"""
import asyncio, sys

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"

class Receiver(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer, self.need = transport, b"", None

    def data_received(self, data):
        self.buffer += data
        answers = 0
        while True:
            if self.need is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    break
                length = 0
                for line in self.buffer[:end].lower().split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        length = int(line[15:])
                self.buffer, self.need = self.buffer[end + 4:], length
            if len(self.buffer) < self.need:
                break
            self.buffer, self.need = self.buffer[self.need:], None
            answers += 1
        if answers:
            self.transport.write(ANSWER * answers)

async def main(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()

try:
    import uvloop
    uvloop.run(main(int(sys.argv[1])))
except ImportError:
    asyncio.run(main(int(sys.argv[1])))
"""

PG_DATABASE = "leadline_bench_webhooks"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def receiver() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/hooks", proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _leadline_command() -> list[str]:
    """The `leadline` entry point installed beside this interpreter (the module otherwise)."""
    script = Path(sys.executable).parent / "leadline"
    if script.exists():
        return [str(script)]
    found = shutil.which("leadline")
    return [found] if found else [sys.executable, "-m", "leadline.cli"]


@dataclass
class Figures:
    emitted_per_second: float
    steady_per_second: float
    wall_per_second: float
    worker_cpu_seconds: float
    receiver_cpu_seconds: float
    deliveries: int
    load_before: float
    load_after: float


async def _prepare(settings: Settings, url: str, events: int, endpoints: int) -> float:
    """A workspace, its endpoints and ``events`` events; returns the seconds emitting took."""
    db = Database(settings)
    try:
        async with db.transaction() as session:
            issued = await auth.create_key(session, workspace_slug="bench", role="admin")
        async with db.transaction() as session:
            principal = await auth.authenticate(session, issued.token)
            for n in range(endpoints):
                await webhooks.create_endpoint(session, principal, settings, url=f"{url}/{n}")
            workspace_id = principal.workspace_id
        started = time.perf_counter()
        for start in range(0, events, 100):
            async with db.transaction() as session:
                for n in range(start, min(events, start + 100)):
                    await webhooks.emit(session, workspace_id, "lead.created", {"n": n})
        return time.perf_counter() - started
    finally:
        await db.dispose()


async def _progress(settings: Settings) -> tuple[int, float]:
    """How many deliveries are delivered, and the seconds from the first attempt to the last
    delivery so far."""
    db = Database(settings)
    try:
        async with db.transaction() as session:
            delivered, last = (
                await session.execute(
                    select(func.count(), func.max(WebhookDelivery.delivered_at)).where(
                        WebhookDelivery.state == "delivered"
                    )
                )
            ).one()
            first = await session.scalar(select(func.min(WebhookAttempt.started_at)))
        span = (last - first).total_seconds() if last and first else 0.0
        return int(delivered), span
    finally:
        await db.dispose()


def _start_workers(url: str, workers: int, concurrency: int) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "LEADLINE_DATABASE_URL": url,
        "LEADLINE_WEBHOOKS_ALLOW_PRIVATE": "1",
        "LEADLINE_JOBS_POLL_SECONDS": "0.05",
        "LEADLINE_LOG_LEVEL": "warning",
    }
    command = [*_leadline_command(), "worker", "--concurrency", str(concurrency)]
    return [subprocess.Popen(command, env=env, cwd=ROOT) for _ in range(workers)]


def measure(
    url: str, target: str, receiver_pid: int, args: argparse.Namespace, workers: int
) -> Figures:
    settings = Settings(database_url=url, webhooks_allow_private=True)
    emit_seconds = asyncio.run(_prepare(settings, target, args.events, args.endpoints))
    total = args.events * args.endpoints
    load_before = os.getloadavg()[0]
    receiver_cpu = _cpu_seconds(receiver_pid)
    started = time.perf_counter()
    procs = _start_workers(url, workers, args.concurrency)
    try:
        while True:
            delivered, span = asyncio.run(_progress(settings))
            if delivered >= total:
                break
            if any(proc.poll() is not None for proc in procs):
                raise RuntimeError("a worker exited early")
            time.sleep(0.25)
        wall = time.perf_counter() - started
        cpu = sum(_cpu_seconds(proc.pid) for proc in procs)
        receiver_cpu = _cpu_seconds(receiver_pid) - receiver_cpu
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
    return Figures(
        emitted_per_second=args.events / emit_seconds,
        steady_per_second=total / span if span else 0.0,
        wall_per_second=total / wall,
        worker_cpu_seconds=cpu,
        receiver_cpu_seconds=receiver_cpu,
        deliveries=total,
        load_before=load_before,
        load_after=os.getloadavg()[0],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--endpoints", type=int, default=1, help="each event goes to every one")
    parser.add_argument("--workers", type=int, nargs="+", default=[2], help="worker processes")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs at once per worker")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="leadline-bench-webhooks-") as tmp,
        receiver() as (target, receiver_proc),
    ):
        for backend in backends:
            for workers in args.workers:
                url = fresh_database(backend, Path(tmp), PG_DATABASE)
                upgrade(Settings(database_url=url))
                figures = measure(url, target, receiver_proc.pid, args, workers)
                print(
                    f"[{backend}] {workers} worker(s) x {args.concurrency}: "
                    f"emit {figures.emitted_per_second:,.0f} events/s; deliver "
                    f"{figures.steady_per_second:,.0f}/s first attempt to last delivery, "
                    f"{figures.wall_per_second:,.0f}/s from process start; worker CPU "
                    f"{figures.worker_cpu_seconds * 1000 / figures.deliveries:.2f} ms/delivery, "
                    f"receiver {figures.receiver_cpu_seconds * 1e6 / figures.deliveries:.0f} "
                    f"us/delivery; load {figures.load_before:.1f} -> {figures.load_after:.1f}",
                    flush=True,
                )
                rows.append((backend, workers, figures))
                drop_database(backend, PG_DATABASE)
    print()
    print(
        "| Database | workers x jobs at once | events emitted/s | deliveries/s "
        "(steady) | deliveries/s (from start) | worker CPU ms/delivery |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for backend, workers, figures in rows:
        name = "SQLite" if backend == "sqlite" else "PostgreSQL"
        print(
            f"| {name} | {workers} x {args.concurrency} | {figures.emitted_per_second:,.0f} "
            f"| {figures.steady_per_second:,.0f} | {figures.wall_per_second:,.0f} "
            f"| {figures.worker_cpu_seconds * 1000 / figures.deliveries:.2f} |"
        )


if __name__ == "__main__":
    main()
