"""Connections bound to the addresses a delivery checked.

Checking where a name points and then letting an HTTP client look it up again leaves a gap: a
name can answer with a public address to the check and with 127.0.0.1 to the connect (DNS
rebinding). So a delivery does no lookup of its own: it connects only to the checked
addresses, in order, and everything above the socket still sees the name, so the Host header,
TLS SNI and certificate verification are for the name the endpoint was registered with.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from leadline.webhooks.safety import Target

# (address, port) -> a connected, non-blocking socket; raises OSError when it cannot.
Connect = Callable[[str, int], Awaitable[socket.socket]]
P = TypeVar("P", bound=asyncio.Protocol)


class ConnectFailed(Exception):
    """No connection to any of the target's addresses (or its TLS handshake failed)."""


async def system_connect(address: str, port: int) -> socket.socket:
    """A TCP connection to ``address``, an IP address (never a name: nothing is looked up)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(
        address, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
    )
    family, kind, proto, _, where = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(sock, where)
    except BaseException:
        sock.close()
        raise
    return sock


_connect: Connect = system_connect


@contextmanager
def connecting_with(connect: Connect) -> Iterator[None]:
    """Open connections through ``connect`` for a while: a seam for tests that must see where
    a delivery connects without reaching that address."""
    global _connect
    before, _connect = _connect, connect
    try:
        yield
    finally:
        _connect = before


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Built once: loading the CA bundle costs milliseconds.
    return ssl.create_default_context()


async def open_pinned(
    target: Target,
    protocol: Callable[[], P],
    *,
    tls: bool,
    ssl_context: ssl.SSLContext | None = None,
) -> P:
    """A connection to the first of ``target``'s checked addresses that answers, speaking
    ``protocol``; over TLS negotiated and verified for the target's name (against the
    system's trusted authorities unless ``ssl_context`` is given)."""
    failure: OSError | None = None
    for address in target.addresses:
        try:
            sock = await _connect(address, target.port)
            break
        except OSError as exc:
            failure = exc
    else:
        raise ConnectFailed(str(failure) if failure else f"no address for {target.host}")
    try:
        _, connected = await asyncio.get_running_loop().create_connection(
            protocol,
            sock=sock,
            ssl=(ssl_context or _ssl_context()) if tls else None,
            server_hostname=target.host if tls else None,
        )
    except OSError as exc:  # ssl.SSLError is one: a certificate not for the name, say
        sock.close()
        raise ConnectFailed(str(exc)) from exc
    return connected
