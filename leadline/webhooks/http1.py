"""The HTTP/1.1 a webhook delivery speaks: a POST on a kept-alive connection, and its answer.

Deliveries need little of HTTP: one request at a time per connection, the status, a header or
two (Retry-After) and the first kilobyte of the answer. httpx spent more than a millisecond of
CPU on each (its pool, anyio and h11 layers) where this costs tens of microseconds, and CPU per
delivery is what bounds how many a worker sends (docs/adr/0005-webhook-delivery-batches.md).
Answers are parsed by httptools (llhttp, the parser uvicorn uses for requests).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import quote

import httptools

from leadline.kit.urls import parse_url
from leadline.webhooks.pinned import open_pinned
from leadline.webhooks.safety import Target

EXCERPT_BYTES = 1024
# An answer longer than this is not read to its end: its connection is closed, not reused.
DRAIN_BYTES = 64 * 1024
# An idle connection older than this is closed rather than reused: receivers close theirs
# (Node's servers after 5 s), and one closed as the request goes out costs a retry.
KEEPALIVE_SECONDS = 4.0


class ProtocolError(Exception):
    """The receiver's answer was not HTTP/1.1 we can read, or never came."""


class _Stale(ProtocolError):
    """A kept-alive connection the receiver had closed before reading the request."""


@dataclass(slots=True, frozen=True)
class Answer:
    status: int
    # Lower-case names; a repeated header's values joined with ", ".
    headers: dict[str, str]
    excerpt: bytes


class Connection(asyncio.Protocol):
    """One connection to a receiver, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.reusable = False
        self.idle_since = time.monotonic()
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.excerpt = bytearray()
        self.body_bytes = 0
        self.answered = False  # any byte of an answer arrived
        self.headers_done = False

    # ---------------------------------------------------------------------- asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._finish(ProtocolError("the receiver switched protocols"))
        except httptools.HttpParserError as exc:
            self._finish(ProtocolError(f"the answer is not HTTP/1.1: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self.headers_done:
            self._finish()  # an answer whose body ends where the connection does
        elif not self.answered:
            self._finish(_Stale("the receiver closed the connection without answering"))
        else:
            self._finish(ProtocolError("the receiver closed the connection mid-answer"))

    # ----------------------------------------------------------------- the parser's

    def on_header(self, name: bytes, value: bytes) -> None:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = self.status >= 200

    def on_body(self, body: bytes) -> None:
        room = EXCERPT_BYTES - len(self.excerpt)
        if room > 0:
            self.excerpt += body[:room]
        self.body_bytes += len(body)
        if self.body_bytes > DRAIN_BYTES:
            self.reusable = False
            self._finish()

    def on_message_complete(self) -> None:
        if self.status < 200:  # 1xx, informational: the answer is still to come
            self._reset()
            self.answered = True
            return
        self.reusable = self.parser.should_keep_alive()
        self._finish()

    # ------------------------------------------------------------------------ use

    def _finish(self, error: Exception | None = None) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if error is None:
            waiter.set_result(None)
        else:
            self.reusable = False
            waiter.set_exception(error)

    def usable(self, now: float) -> bool:
        transport = self.transport
        fresh = now - self.idle_since < KEEPALIVE_SECONDS
        return fresh and not self.closed and transport is not None and not transport.is_closing()

    async def exchange(self, request: bytes) -> Answer:
        """Send ``request`` (head and body) and wait for the whole answer."""
        assert self.transport is not None
        self._reset()
        self.reusable = False
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            self.transport.write(request)
            await self.waiter
        finally:
            self.waiter = None
        answer = Answer(self.status, self.headers, bytes(self.excerpt))
        self.idle_since = time.monotonic()
        if not self.reusable:
            self.close()
        return answer

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None and not self.closed:
            self.transport.close()


def _host_header(host: str, port: int | None, default: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port in (None, default) else f"{shown}:{port}"


class Client:
    """POSTs to one checked target over up to ``connections`` kept-alive connections. Take
    a slot (``async with client.slots``) around each request, so that a request's timeout
    starts once it has a connection to go over rather than while it waits for one."""

    def __init__(
        self, target: Target, connections: int, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        parts = parse_url(target.url)
        if parts is None or parts.scheme not in ("http", "https") or not parts.host:
            raise ValueError(f"not an http(s) URL: {target.url!r}")
        self.target = target
        self.tls = parts.scheme == "https"
        self.ssl_context = ssl_context
        self.slots = asyncio.Semaphore(connections)
        self.idle: list[Connection] = []
        # Safe characters stay as they are (the URL was checked for control characters and
        # spaces); anything else, such as non-ASCII text, is percent-encoded.
        path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
        query = quote(parts.query, safe="/?%:@!$&'()*+,;=-._~") if parts.query else ""
        host = _host_header(parts.host, parts.port, 443 if self.tls else 80)
        self._start = f"POST {path}{'?' + query if query else ''} HTTP/1.1\r\nHost: {host}\r\n"

    def _request(self, headers: dict[str, str], body: bytes) -> bytes:
        lines = [self._start, f"Content-Length: {len(body)}\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
        lines.append("\r\n")
        return "".join(lines).encode("latin-1") + body

    async def post(self, headers: dict[str, str], body: bytes) -> Answer:
        """POST ``body`` with ``headers`` on an idle connection, or a new one. Raises
        ConnectFailed or ProtocolError; the caller bounds the time it may take."""
        request = self._request(headers, body)
        now = time.monotonic()
        while self.idle:
            connection = self.idle.pop()
            if not connection.usable(now):
                connection.close()
                continue
            try:
                return await self._exchange(connection, request)
            except _Stale:
                continue  # it was closed meanwhile: the request was not read
        connection = await open_pinned(
            self.target, Connection, tls=self.tls, ssl_context=self.ssl_context
        )
        return await self._exchange(connection, request)

    async def _exchange(self, connection: Connection, request: bytes) -> Answer:
        try:
            answer = await connection.exchange(request)
        except BaseException:
            connection.close()
            raise
        if connection.reusable:
            self.idle.append(connection)
        return answer

    def close_expired(self, now: float) -> None:
        """Close the idle connections too old to be used again."""
        keep = [connection for connection in self.idle if connection.usable(now)]
        for connection in self.idle:
            if connection not in keep:
                connection.close()
        self.idle = keep

    def close(self) -> None:
        idle, self.idle = self.idle, []
        for connection in idle:
            connection.close()
