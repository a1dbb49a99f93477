"""Webhook deliveries per second to a local receiver, through the job queue.

    .venv/bin/python bench/webhooks.py --backend both --events 5000 --concurrency 16

Each run creates a workspace with one endpoint pointing at a local HTTP receiver (a threaded
server answering 200), emits ``--events`` events (100 per transaction, as lead changes would),
then runs one worker in this process and times until every delivery is recorded as delivered:
sign, POST, wait for the answer, log the attempt, settle the job.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.databases import drop_database, fresh_database  # noqa: E402
from leadline.auth import service as auth  # noqa: E402
from leadline.config import Settings  # noqa: E402
from leadline.db import Database  # noqa: E402
from leadline.jobs.worker import Worker  # noqa: E402
from leadline.migrations import upgrade  # noqa: E402
from leadline.models import WebhookDelivery  # noqa: E402
from leadline.webhooks import service as webhooks  # noqa: E402

# A receiver in its own process (so it does not share this one's interpreter lock), answering
# 200 with keep-alive, like a real endpoint.
RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
server.daemon_threads = True
server.serve_forever()
"""


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
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
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


PG_DATABASE = "leadline_bench_webhooks"


async def run(settings: Settings, url: str, events: int, concurrency: int) -> tuple[float, float]:
    db = Database(settings)
    try:
        async with db.transaction() as session:
            issued = await auth.create_key(session, workspace_slug="bench", role="admin")
        async with db.transaction() as session:
            principal = await auth.authenticate(session, issued.token)
            await webhooks.create_endpoint(session, principal, settings, url=url)
            workspace_id = principal.workspace_id
        started = time.perf_counter()
        for start in range(0, events, 100):
            async with db.transaction() as session:
                for n in range(start, min(events, start + 100)):
                    await webhooks.emit(session, workspace_id, "lead.created", {"n": n})
        emit_seconds = time.perf_counter() - started

        stop = asyncio.Event()
        started = time.perf_counter()
        worker = asyncio.create_task(Worker(db, settings, concurrency=concurrency).run(stop))
        while True:
            async with db.transaction() as session:
                delivered = await session.scalar(
                    select(func.count()).where(WebhookDelivery.state == "delivered")
                )
            if delivered == events:
                break
            await asyncio.sleep(0.1)
        deliver_seconds = time.perf_counter() - started
        stop.set()
        await worker
        return events / emit_seconds, events / deliver_seconds
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16, help="deliveries at once")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="leadline-bench-webhooks-") as tmp,
        receiver() as target,
    ):
        for backend in backends:
            url = fresh_database(backend, Path(tmp), PG_DATABASE)
            upgrade(Settings(database_url=url))
            settings = Settings(
                database_url=url, webhooks_allow_private=True, jobs_poll_seconds=0.05
            )
            emitted, delivered = asyncio.run(run(settings, target, args.events, args.concurrency))
            print(
                f"[{backend}] emit {emitted:,.0f} events/s, deliver {delivered:,.0f}/s "
                f"({args.concurrency} at once)",
                flush=True,
            )
            rows.append((backend, emitted, delivered))
            drop_database(backend, PG_DATABASE)
    print()
    print(f"| Database | events emitted/s | deliveries/s ({args.concurrency} at once) |")
    print("|---|---:|---:|")
    for backend, emitted, delivered in rows:
        name = "SQLite" if backend == "sqlite" else "PostgreSQL"
        print(f"| {name} | {emitted:,.0f} | {delivered:,.0f} |")


if __name__ == "__main__":
    main()
