"""Who a request came from when it came through reverse proxies.

A proxy in front of Leadline connects to it itself: the connection's address is the proxy's,
and the client's is in the ``X-Forwarded-For`` header the proxy adds (``X-Forwarded-Proto``
says whether the client used https). Anyone can send those headers, so they are believed only
from the addresses and networks of ``LEADLINE_TRUSTED_PROXIES``.

``X-Forwarded-For`` lists the client and then each proxy it went through, each proxy adding
the address it was connected from. Read from the right, the first address that is not a
trusted proxy is the client; what lies left of it was written by the client itself and is not
believed. A list of trusted proxies only (the client is on the proxies' own network) gives its
leftmost address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, MutableMapping
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Peers seen, kept with whether they are trusted (a proxy's handful, a direct clients' many).
_KNOWN_PEERS = 4096
_SCHEMES = {"http": ("http", "https"), "websocket": ("ws", "wss")}


def parse_networks(value: str) -> tuple[Network, ...] | None:
    """The networks of a comma-separated setting (``10.0.0.0/8, 127.0.0.1, ::1``), or None
    for ``*``: every peer is trusted (only where nothing but the proxy can reach Leadline).
    ValueError names an entry that is neither an address nor a network."""
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    if "*" in entries:
        return None
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"{entry!r} is neither an IP address nor a network (such as 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443, as some proxies write it
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.partition(":")[0]
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


class TrustedProxies:
    """The proxies whose forwarded headers are believed (``networks``; None: every peer)."""

    def __init__(self, networks: Iterable[Network] | None) -> None:
        self.networks = tuple(networks) if networks is not None else None
        self._peers: dict[str, bool] = {}

    @classmethod
    def from_setting(cls, value: str) -> TrustedProxies:
        return cls(parse_networks(value))

    @property
    def enabled(self) -> bool:
        return self.networks is None or bool(self.networks)

    def trusts(self, host: str) -> bool:
        known = self._peers.get(host)
        if known is None:
            known = self._trusts(_address(host))
            if len(self._peers) >= _KNOWN_PEERS:
                self._peers.clear()
            self._peers[host] = known
        return known

    def _trusts(self, address: Address | None) -> bool:
        if self.networks is None:
            return True
        if address is None:
            return False
        return any(address in network for network in self.networks)

    def client_of(self, peer: str, forwarded_for: str) -> str:
        """The client's address, given the connection's (``peer``, trusted) and the
        ``X-Forwarded-For`` list."""
        found = peer
        for hop in reversed(forwarded_for.split(",")):
            address = _address(hop)
            if address is None:
                break  # not an address: the hops left of it are not believed either
            found = str(address)
            if not self._trusts(address):
                break
        return found

    def resolve(self, scope: MutableMapping[str, Any]) -> None:
        """Rewrite the ASGI ``scope``'s ``client`` and ``scheme`` from the forwarded headers,
        when the connection comes from a trusted proxy."""
        peer = scope.get("client")
        if not peer or not self.trusts(str(peer[0])):
            return
        forwarded_for: list[str] = []
        proto: str | None = None
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-for":
                forwarded_for.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1")
        if forwarded_for:
            client = self.client_of(str(peer[0]), ",".join(forwarded_for))
            scope["client"] = (client, 0)
        if proto is not None:
            # The proxy nearest to us writes last.
            said = proto.rpartition(",")[2].strip().lower()
            plain, secure = _SCHEMES.get(str(scope.get("type")), ("http", "https"))
            if said in ("https", "wss"):
                scope["scheme"] = secure
            elif said in ("http", "ws"):
                scope["scheme"] = plain
