"""The production app plus two routes that store nothing, for bench/ingest.py.

``POST /bench/noop`` answers 204 through the same server, middleware and router as the
tracking routes, so the ingest benchmark can tell the cost of the stack from that of the work.
``POST /bench/handoff`` answers 204 too, but only after a thread has taken the request from a
queue and answered it on the event loop, in groups, as the tracking writer does (without a
database): what the hand-over to a writer thread costs by itself. Both exist only here, never
in leadline/.

    python -m uvicorn bench.ingest_app:app_factory --factory
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadline.app import create_app
from leadline.config import Settings

NOOP_PATH = "/bench/noop"
HANDOFF_PATH = "/bench/handoff"


async def noop(request: Request) -> Response:
    return Response(status_code=204)


class Handoff:
    """A thread that answers everything queued while it was busy at once, by one callback on
    the event loop (the tracking writer's way, with no transaction in between)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[asyncio.Future[None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            threading.Thread(target=self._run, name="bench handoff", daemon=True).start()
        future = self._loop.create_future()
        with self._cond:
            self._queue.append(future)
            self._cond.notify()
        await future

    def _run(self) -> None:
        assert self._loop is not None
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                group = list(self._queue)
                self._queue.clear()
            self._loop.call_soon_threadsafe(_answer, group)


def _answer(group: list[asyncio.Future[None]]) -> None:
    for future in group:
        if not future.done():
            future.set_result(None)


def app_factory() -> Starlette:
    app = create_app(Settings())
    handoff = Handoff()

    async def handed_off(request: Request) -> Response:
        await request.body()
        await handoff.submit()
        return Response(status_code=204)

    # First, so matching them costs no more than matching the first tracking route.
    app.router.routes[:0] = [
        Route(NOOP_PATH, noop, methods=["POST"]),
        Route(HANDOFF_PATH, handed_off, methods=["POST"]),
    ]
    return app
