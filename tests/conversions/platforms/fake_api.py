"""A local stand-in for any ad platform's API: a real HTTP server on a loopback port that
records every request and answers with the replies a test scripts, path by path. Every
platform's tests use it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx

from leadline.conversions.platforms.base import Conversion, Destination
from tests.fixtures.server import free_port, threaded_http_server

T = TypeVar("T")

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
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
class FakeApi:
    """What the server saw (``requests``) and what it will answer, path by path: queued
    replies first, in order, then the path's standing reply; a path with neither is a 404."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    queued: dict[str, list[Reply]] = field(default_factory=dict)
    standing: dict[str, Reply] = field(default_factory=dict)

    def reply(self, path: str, *replies: Reply) -> None:
        """Answer requests to ``path`` with ``replies`` in turn (the last one from then on)."""
        *first, last = replies
        self.queued[path] = list(first)
        self.standing[path] = last

    def answer(self, path: str, status: int, body: Any, **headers: str) -> None:
        """Queue one more reply for ``path``."""
        self.queued.setdefault(path, []).append(Reply(status, body, headers))

    def always(self, path: str, status: int, body: Any, **headers: str) -> None:
        """Answer ``path`` with this once its queue is empty."""
        self.standing[path] = Reply(status, body, headers)

    def to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def next_reply(self, path: str) -> Reply:
        queue = self.queued.get(path)
        if queue:
            return queue.pop(0)
        standing = self.standing.get(path)
        if standing is None:
            return Reply(404, {"error": {"message": f"no reply scripted for {path}"}})
        return standing


@contextmanager
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            parts = urlsplit(self.path)
            api.requests.append(
                Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
            )
            reply = api.next_reply(parts.path)
            payload = b"" if reply.body is None else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    with threaded_http_server(Handler) as server:
        api.url = f"http://127.0.0.1:{server.server_address[1]}"
        yield api


def nowhere() -> str:
    """A loopback URL nothing listens on: every request fails to connect."""
    return f"http://127.0.0.1:{free_port()}"


def destination(
    platform: str,
    base_url: str,
    settings: dict[str, Any],
    credentials: dict[str, str],
) -> Destination:
    return Destination(
        id="dst_1", platform=platform, settings=settings, credentials=credentials, base_url=base_url
    )


def run(call: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run ``call`` with a fresh httpx.AsyncClient, as the feature would."""

    async def main() -> T:
        async with httpx.AsyncClient() as client:
            return await call(client)

    return asyncio.run(main())


def conversion(key: str = "cv_1", **overrides: Any) -> Conversion:
    """A qualified lead converted an hour before NOW, with every field an adapter may read."""
    fields: dict[str, Any] = {
        "key": key,
        "lead_id": "lead_1",
        "event_name": "Lead",
        "occurred_at": NOW - timedelta(hours=1),
        "click_ids": {},
        "email": "  John.Doe@Example.COM ",
        "phone_e164": "+16505551234",
        "first_name": "John",
        "last_name": "Doe",
        "consent": {"ad_user_data": True, "ad_storage": True},
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
        "page_url": "https://example.com/contact",
        "country": "us",
    }
    fields.update(overrides)
    return Conversion(**fields)


# SHA-256 of the normalised values of conversion() (computed once, independently, with
# `printf %s VALUE | sha256sum`).
EMAIL_SHA256 = (
    "836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f"  # john.doe@example.com
)
PHONE_PLUS_SHA256 = (
    "a2996076d3ad4af5dc818b908b3d8e354f26ededf7df0e0aa6ac354143805ee0"  # +16505551234
)
PHONE_DIGITS_SHA256 = (
    "6069d14bf122fdfd931dc7beb58e5dfbba395b1faf05bdcd42d12358d63d8599"  # 16505551234
)
LEAD_SHA256 = "a4206ddfcac75830473edfb5549a0d23a8fa061ef7b6013d8ae828282e198245"  # lead_1
