"""Where webhooks may go: public HTTPS addresses, unless private targets are allowed.

A webhook URL is chosen by an API client, and the server then makes requests to it: without
this check, a key holder could make Leadline reach the database, a cloud metadata service or
anything else only the server can see. The host is resolved and every address it resolves to
must be globally routable, when the endpoint is created and again before every delivery (a name
may resolve elsewhere later). A delivery then connects to the addresses it checked, never to a
fresh lookup of the name (see ``pinned.py``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeAlias

from leadline.errors import ValidationFailed
from leadline.kit.urls import parse_url

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses the host resolves to, as text.
Resolver: TypeAlias = Callable[[str, int], Awaitable[list[str]]]


class UnsafeTarget(ValidationFailed):
    code = "unsafe_webhook_target"


@dataclass(frozen=True, slots=True)
class Target:
    """A checked webhook URL and the addresses a delivery to it may connect to."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


# ---------------------------------------------------------------------------- addresses

_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# NAT64 (RFC 6052 well-known prefix, RFC 8215 local-use prefix): the translator forwards to
# the IPv4 address held in the last 32 bits.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


# Special-purpose blocks that older Pythons' is_global still calls global.
_NOT_GLOBAL_IPV4 = (
    ipaddress.IPv4Network("192.0.0.0/24"),  # IETF protocol assignments (only /29 before 3.11.10)
    ipaddress.IPv4Network("192.88.99.0/24"),  # the deprecated 6to4 relay anycast block
)


def _ipv4_is_global(address: ipaddress.IPv4Address) -> bool:
    # is_global leaves out private, loopback, link-local, 0/8, 100.64/10, 198.18/15 and the
    # documentation ranges, but (before Python 3.13) not multicast or 240/4.
    return (
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not any(address in block for block in _NOT_GLOBAL_IPV4)
    )


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses a packet to ``address`` is really bound for, when it is one of the
    IPv6 forms that carry an IPv4 address; None for a native IPv6 address."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    # :: and ::1 sit in the IPv4-compatible block but are the unspecified and loopback
    # addresses, not IPv4 ones.
    compatible = address in _IPV4_COMPATIBLE and int(address) > 1
    if compatible or any(address in prefix for prefix in _NAT64):
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        # Both the relay (server) and the host behind it (client, kept inverted in the
        # address, which the property undoes) would be reached.
        server, client = address.teredo
        return [server, client]
    return None


def is_global(address: Address) -> bool:
    """Whether ``address`` (and any IPv4 address it embeds) may receive webhooks."""
    if isinstance(address, ipaddress.IPv4Address):
        return _ipv4_is_global(address)
    embedded = embedded_ipv4(address)
    if embedded is not None:
        return all(_ipv4_is_global(inner) for inner in embedded)
    # Only 2000::/3 is handed out for global unicast; everything outside it (ULA, link-local,
    # site-local, multicast, loopback, the reserved blocks) is not a public host.
    return address in _GLOBAL_UNICAST and address.is_global


def _first_not_global(addresses: list[str]) -> str | None:
    """The first of ``addresses`` that may not receive webhooks, described for a person."""
    for raw in addresses:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
        if is_global(address):
            continue
        inner = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
        if inner:
            return f"{raw} (which leads to {', '.join(map(str, inner))})"
        return raw
    return None


# ---------------------------------------------------------------------------- resolving


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host``, looked up in the event loop's thread pool."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


_resolve: Resolver = system_resolve


@contextmanager
def resolving_with(resolve: Resolver) -> Iterator[None]:
    """Look names up with ``resolve`` for a while: a seam for tests of names whose answers
    change between two lookups."""
    global _resolve
    before, _resolve = _resolve, resolve
    try:
        yield
    finally:
        _resolve = before


# ---------------------------------------------------------------------------- checks


def _refuse(message: str) -> UnsafeTarget:
    return UnsafeTarget(message, details={"field": "url"})


def _parse(url: str, *, allow_private: bool) -> tuple[str, int]:
    """The host and port of ``url``, if its form is one webhooks may use."""
    for position, char in enumerate(url):
        # A control character or a space inside the URL can split or smuggle a request line
        # or header on the way out, and no valid URL has one.
        if unicodedata.category(char) == "Cc" or char.isspace():
            raise _refuse(
                f"url must not contain control characters or spaces (found U+{ord(char):04X} "
                f"at position {position})"
            )
    parts = parse_url(url)
    if parts is None:
        raise _refuse("url does not parse (its host or port is malformed)")
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed_schemes:
        raise _refuse("url must be an https:// URL" if not allow_private else "url must be http(s)")
    if not parts.host:
        raise _refuse("url has no host")
    return parts.host, parts.port or (443 if parts.scheme == "https" else 80)


async def _addresses(host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host.split("%", 1)[0]))]
    except ValueError:
        pass  # a name, not an address
    try:
        found = await _resolve(host, port)
    except OSError:
        found = []
    if not found:
        raise _refuse(f"url's host '{host}' does not resolve")
    return found


async def resolve_target(url: str, *, allow_private: bool) -> Target:
    """Check ``url`` and resolve its host once: the addresses returned are the only ones a
    delivery may connect to. Raise UnsafeTarget unless ``url`` may receive webhooks."""
    host, port = _parse(url, allow_private=allow_private)
    addresses = await _addresses(host, port)
    refused = None if allow_private else _first_not_global(addresses)
    if refused is not None:
        raise _refuse(
            f"url's host '{host}' resolves to {refused}, which is not a public "
            "address; webhooks only go to public addresses"
        )
    return Target(url=url, host=host, port=port, addresses=tuple(addresses))


async def check_target(url: str, *, allow_private: bool) -> None:
    """Raise UnsafeTarget unless ``url`` may receive webhooks (when an endpoint is saved)."""
    if allow_private:
        # Any address will do, so there is nothing to look up (and a receiver that does not
        # resolve yet can still be set up).
        _parse(url, allow_private=True)
        return
    await resolve_target(url, allow_private=False)
