"""HTTP clients bound to the addresses a delivery checked.

Checking where a name points and then letting the HTTP client look it up again leaves a gap: a
name can answer with a public address to the check and with 127.0.0.1 to the connect (DNS
rebinding). So a delivery's client does no lookup at all. Its network backend is handed the
URL's host as usual and ignores it, connecting only to the checked addresses; everything above
the socket still sees the name, so the Host header, TLS SNI and certificate verification are
for the name the endpoint was registered with.
"""

from __future__ import annotations

import functools
import ssl
import typing
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import httpcore
import httpx

from leadline.webhooks.safety import Target

SocketOption: typing.TypeAlias = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)

_network: httpcore.AsyncNetworkBackend = httpcore.AnyIOBackend()


@contextmanager
def connecting_with(network: httpcore.AsyncNetworkBackend) -> Iterator[None]:
    """Open connections through ``network`` for a while: a seam for tests that must see where
    a delivery connects without reaching that address."""
    global _network
    before, _network = _network, network
    try:
        yield
    finally:
        _network = before


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the checked addresses, in order, whatever host it is asked for."""

    def __init__(self, addresses: tuple[str, ...], network: httpcore.AsyncNetworkBackend) -> None:
        self.addresses = addresses
        self.network = network

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # `host` is the URL's name; resolving it here would be the second lookup this class
        # exists to avoid.
        failure: httpcore.ConnectError | None = None
        for address in self.addresses:
            try:
                return await self.network.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"no address to connect to for {host}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks only go over TCP")

    async def sleep(self, seconds: float) -> None:
        await self.network.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Built once: loading the CA bundle costs milliseconds, and a worker makes a client per
    # receiver.
    return httpx.create_ssl_context()


class PinnedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, target: Target, ssl_context: ssl.SSLContext, connections: int) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx takes no network backend of its own, so its connection pool is replaced by
        # one built the same way around ours. Should httpx keep its pool elsewhere one day,
        # fail loudly rather than send webhooks through a pool that looks names up again.
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("httpx's transport has changed: webhooks cannot be pinned")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=connections,
            max_keepalive_connections=connections,
            network_backend=PinnedBackend(target.addresses, _network),
        )


def pinned_client(
    target: Target, *, ssl_context: ssl.SSLContext | None = None, connections: int = 1
) -> httpx.AsyncClient:
    """A client that reaches ``target`` only at its checked addresses, over at most
    ``connections`` connections kept alive between requests, verifying certificates against
    ``ssl_context`` (the system's trusted authorities unless given). Redirects are not
    followed (they would lead to a URL nobody checked), and proxy settings from the
    environment are ignored (a proxy would look the name up again)."""
    transport = PinnedTransport(target, ssl_context or _ssl_context(), connections)
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)
