"""The HTTP/1.1 deliveries speak, against real servers on this machine written to answer in
each of the ways a receiver may: kept-alive or not, chunked, informational answers first, an
answer that runs to the connection's end, a long one, a broken one, none at all."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from leadline.webhooks.http1 import DRAIN_BYTES, EXCERPT_BYTES, Answer, Client, ProtocolError
from leadline.webhooks.safety import Target
from tests.fixtures.receiver import receiver

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[bool]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """The head and body of the next request on a connection, or None at its end."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


class Server:
    """Answers each request with ``handle(reader, writer, n)``, n counting requests on the
    connection from 1; the connection is closed when it returns False."""

    def __init__(self, handle: Handler) -> None:
        self.handle = handle
        self.requests: list[tuple[int, bytes, bytes]] = []  # (connection, head, body)
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection, n = self.connections, 0
        try:
            while (request := await read_request(reader)) is not None:
                n += 1
                self.requests.append((connection, *request))
                if not await self.handle(reader, writer, n):
                    break
        finally:
            writer.close()


def run(handle: Handler, *posts: bytes) -> tuple[list[Answer | Exception], Server]:
    """POST each of ``posts`` in turn through one client to a server answering with
    ``handle``; each answer, or the error it raised."""
    server = Server(handle)

    async def main() -> list[Answer | Exception]:
        listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
        port = listening.sockets[0].getsockname()[1]
        target = Target(
            f"http://hooks.example.test:{port}/in?a=1", "hooks.example.test", port, ("127.0.0.1",)
        )
        client = Client(target, 1)
        results: list[Answer | Exception] = []
        try:
            for body in posts:
                try:
                    async with asyncio.timeout(5):
                        results.append(await client.post({"Content-Type": "text/plain"}, body))
                except (ProtocolError, OSError) as exc:
                    results.append(exc)
        finally:
            client.close()
            listening.close()
            await listening.wait_closed()
        return results

    return asyncio.run(main()), server


def answering(*raw: bytes, keep: bool = True) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
        for part in raw:
            writer.write(part)
            await writer.drain()
        return keep

    return handle


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_the_request_and_a_kept_alive_connection() -> None:
    (first, second), server = run(answering(OK), b"one", b"two")
    assert first == second == Answer(200, {"content-length": "2"}, b"ok")
    assert server.connections == 1  # the second went on the first's connection
    head = server.requests[0][1].decode()
    assert head.startswith("POST /in?a=1 HTTP/1.1\r\n")
    assert "\r\nHost: hooks.example.test:" in head
    assert "\r\nContent-Length: 3\r\n" in head
    assert [body for _, _, body in server.requests] == [b"one", b"two"]


def test_a_connection_the_receiver_closes_is_not_used_again() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    answers, server = run(answering(closing, keep=False), b"one", b"two")
    assert [answer.status for answer in answers if isinstance(answer, Answer)] == [200, 200]
    assert server.connections == 2


def test_a_kept_connection_closed_unread_is_retried_on_a_new_one() -> None:
    async def once_per_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> bool:
        if n > 1:
            return False  # closes without a word, as a receiver timing out its idle connection
        writer.write(OK)
        return True

    answers, server = run(once_per_connection, b"one", b"two")
    assert [answer.status for answer in answers if isinstance(answer, Answer)] == [200, 200]
    assert [connection for connection, _, _ in server.requests] == [1, 1, 2]


def test_a_new_connection_closed_without_an_answer_is_an_error() -> None:
    (answer,), _ = run(answering(keep=False), b"one")
    assert isinstance(answer, ProtocolError)
    assert str(answer) == "the receiver closed the connection without answering"


def test_chunked_and_informational_answers() -> None:
    chunked = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\nRetry-After: 7\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    (first, second), server = run(answering(chunked), b"one", b"two")
    assert first == second
    assert isinstance(first, Answer)
    assert (first.status, first.excerpt, first.headers["retry-after"]) == (202, b"abcde", "7")
    assert "link" not in first.headers  # the informational answer's headers are not the answer's
    assert server.connections == 1


def test_an_answer_that_runs_to_the_end_of_its_connection() -> None:
    (answer,), _ = run(answering(b"HTTP/1.0 500 Oops\r\n\r\nsomething broke", keep=False), b"x")
    assert answer == Answer(500, {}, b"something broke")


def test_a_long_answer_is_cut_and_its_connection_not_used_again() -> None:
    long = b"x" * (DRAIN_BYTES * 2)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(long)
    (first, second), server = run(answering(head, long), b"one", b"two")
    assert isinstance(first, Answer)
    assert first.excerpt == b"x" * EXCERPT_BYTES
    assert isinstance(second, Answer)
    assert server.connections == 2


def test_a_broken_answer_is_an_error() -> None:
    (answer,), _ = run(answering(b"NOT HTTP AT ALL\r\n\r\n"), b"x")
    assert isinstance(answer, ProtocolError)
    assert str(answer).startswith("the answer is not HTTP/1.1")


@pytest.mark.parametrize("keep_alive", [True, False])
def test_a_threaded_receiver(keep_alive: bool) -> None:
    """The standard library's server, speaking HTTP/1.1 or 1.0."""
    with receiver(keep_alive=keep_alive) as local:
        port = int(local.url.rsplit(":", 1)[1].split("/", 1)[0])
        target = Target(local.url, "127.0.0.1", port, ("127.0.0.1",))

        async def main() -> list[Answer]:
            client = Client(target, 1)
            try:
                return [await client.post({}, b"{}") for _ in range(3)]
            finally:
                client.close()

        answers = asyncio.run(main())
    assert [(answer.status, answer.excerpt) for answer in answers] == [(200, b"ok")] * 3
    assert len({request.peer for request in local.received}) == (1 if keep_alive else 3)
