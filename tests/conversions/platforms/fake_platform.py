"""A stand-in for an ad platform's API: a small Starlette app on a real loopback port that
records every request and answers from a script (per path, in order; then a default)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fixtures.server import free_port


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class FakePlatform:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.script: dict[str, list[Answer]] = {}
        self.defaults: dict[str, Answer] = {}
        self.url = ""

    def answer(self, path: str, status: int, body: Any, **headers: str) -> None:
        """Queue one answer for ``path``."""
        self.script.setdefault(path, []).append(Answer(status, body, headers))

    def always(self, path: str, status: int, body: Any, **headers: str) -> None:
        self.defaults[path] = Answer(status, body, headers)

    def to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        self.seen.append(
            Seen(
                request.method,
                path,
                parse_qs(request.url.query),
                {k.lower(): v for k, v in request.headers.items()},
                await request.body(),
            )
        )
        queue = self.script.get(path)
        answer = queue.pop(0) if queue else self.defaults.get(path)
        if answer is None:
            return JSONResponse({"error": {"message": f"no answer for {path}"}}, status_code=404)
        return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


@contextmanager
def fake_platform() -> Iterator[FakePlatform]:
    fake = FakePlatform()
    app = Starlette(routes=[Route("/{rest:path}", fake._handle, methods=["GET", "POST"])])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake platform did not start")
        time.sleep(0.02)
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=20)
