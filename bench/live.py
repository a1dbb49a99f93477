"""Live delivery benchmark: many open operator streams on one server process, the time from
posting a message to each stream receiving it (fan-out latency), and the server's memory per
open stream.

Run from the repository root, for example::

    .venv/bin/python bench/live.py --connections 1000 --messages 20

The server is `uvicorn leadline.app:create_app` in a process of its own on SQLite (a fresh
file); the streams are read by one asyncio client process, so on a small machine the client's
own reading is part of the latency. See docs/performance.md for recorded results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.leads import percentile  # noqa: E402
from leadline.auth.service import create_key  # noqa: E402
from leadline.config import Settings  # noqa: E402
from leadline.db import Database  # noqa: E402
from leadline.migrations import upgrade  # noqa: E402

HOST = "127.0.0.1"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@contextlib.contextmanager
def server(url: str) -> Iterator[tuple[str, int]]:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "LEADLINE_DATABASE_URL": url,
        "LEADLINE_LOG_LEVEL": "warning",
        # Not the rate limit under test.
        "LEADLINE_API_RATE_LIMIT": "100000000",
    }
    env.pop("LEADLINE_REDIS_URL", None)
    command = [sys.executable, "-m", "uvicorn", "leadline.app:create_app", "--factory"]
    command += ["--host", HOST, "--port", str(port), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start within 60s")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def admin_token(url: str) -> str:
    db = Database(Settings(database_url=url))
    try:
        async with db.transaction() as session:
            issued = await create_key(session, workspace_slug="bench", role="admin")
        return issued.token
    finally:
        await db.dispose()


async def run(base: str, pid: int, token: str, connections: int, messages: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=connections + 10, max_keepalive_connections=10)
    timeout = httpx.Timeout(60.0)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=timeout
    ) as http:
        answer = await http.post(
            "/api/v1/conversations",
            json={"contact": {"name": "Ada"}, "message": {"text": "hello"}},
        )
        answer.raise_for_status()
        cid = answer.json()["data"]["id"]
        before = rss_kib(pid)
        received: dict[int, list[float]] = {seq: [] for seq in range(2, messages + 2)}
        ready = 0
        all_ready = asyncio.Event()
        done = asyncio.Event()
        expected = connections * messages
        count = 0

        async def follow() -> None:
            nonlocal ready, count
            async with http.stream("GET", f"/api/v1/conversations/{cid}/stream") as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("retry:"):
                        ready += 1
                        if ready == connections:
                            all_ready.set()
                    elif line.startswith("id: "):
                        received[int(line[4:])].append(time.perf_counter())
                        count += 1
                        if count == expected:
                            done.set()
                        if int(line[4:]) == messages + 1:
                            return

        opened = time.perf_counter()
        tasks = [asyncio.create_task(follow()) for _ in range(connections)]
        await asyncio.wait_for(all_ready.wait(), 300)
        opening = time.perf_counter() - opened
        await asyncio.sleep(1.0)
        after = rss_kib(pid)
        sent: dict[int, float] = {}
        for seq in range(2, messages + 2):
            sent[seq] = time.perf_counter()
            posted = await http.post(f"/api/v1/conversations/{cid}/messages", json={"text": "hi"})
            posted.raise_for_status()
            await asyncio.sleep(0.2)
        await asyncio.wait_for(done.wait(), 300)
        await asyncio.gather(*tasks)
    latencies = sorted((at - sent[seq]) * 1000 for seq, times in received.items() for at in times)
    print(f"connections                {connections}")
    print(f"opened in                  {opening:.2f} s")
    print(f"server RSS before/after    {before / 1024:.1f} / {after / 1024:.1f} MiB")
    print(f"memory per connection      {(after - before) / connections:.1f} KiB")
    print(f"messages                   {messages} ({len(latencies)} deliveries)")
    for q in (0.5, 0.9, 0.99, 1.0):
        print(f"post-to-receive p{int(q * 100):<3}      {percentile(latencies, q):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/live.db"
        settings = Settings(database_url=url)
        upgrade(settings)
        token = asyncio.run(admin_token(url))
        with server(url) as (base, pid):
            asyncio.run(run(base, pid, token, args.connections, args.messages))


if __name__ == "__main__":
    main()
