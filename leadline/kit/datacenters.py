"""Which addresses belong to a datacenter, a cloud or a VPN provider, from the ranges those
providers publish (``data/datacenter_ranges.txt``, or a file of the same format an operator
keeps fresher: ``LEADLINE_DATACENTER_RANGES_FILE``).

A table of ranges is read once and kept as sorted bounds per IP version; a lookup is one
binary search (a few microseconds), so a report can classify every submission of weeks.
"""

from __future__ import annotations

import bisect
import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

BUNDLED = "datacenter_ranges.txt"


@dataclass(frozen=True, slots=True)
class _Ranges:
    """Disjoint networks of one IP version as sorted starts, their ends and providers."""

    starts: list[int]
    ends: list[int]
    providers: list[str]

    def find(self, address: int) -> str | None:
        i = bisect.bisect_right(self.starts, address) - 1
        if i >= 0 and address <= self.ends[i]:
            return self.providers[i]
        return None


class Datacenters:
    """The provider of an address, if a known datacenter, cloud or VPN network holds it."""

    def __init__(self, lines: list[str]) -> None:
        found: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
        for number, line in enumerate(lines, 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            network_text, _, provider = text.partition(" ")
            try:
                network = ipaddress.ip_network(network_text, strict=False)
            except ValueError:
                raise ValueError(f"line {number}: {network_text!r} is not a network") from None
            if not network.is_global:
                # Private, reserved and documentation networks are no provider's, whatever
                # a feed says (one published the documentation prefixes as its own).
                continue
            found[network.version].append(
                (
                    int(network.network_address),
                    int(network.broadcast_address),
                    provider.strip() or "unknown",
                )
            )
        self._ranges = {version: _disjoint(rows) for version, rows in found.items()}
        self.networks = sum(len(rows) for rows in found.values())

    def provider_of(self, address: str | None) -> str | None:
        """The provider whose network holds ``address``; None for any other address, and for
        one that is not an address at all."""
        if not address:
            return None
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return self._ranges[ip.version].find(int(ip))

    def __contains__(self, address: str | None) -> bool:
        return self.provider_of(address) is not None


def _disjoint(rows: list[tuple[int, int, str]]) -> _Ranges:
    """Sorted, with a network inside or overlapping an earlier one cut to what it adds."""
    starts: list[int] = []
    ends: list[int] = []
    providers: list[str] = []
    for start, end, provider in sorted(rows):
        if ends and start <= ends[-1]:
            if end <= ends[-1]:
                continue
            start = ends[-1] + 1
        starts.append(start)
        ends.append(end)
        providers.append(provider)
    return _Ranges(starts, ends, providers)


@lru_cache(maxsize=4)
def load(path: Path | None = None) -> Datacenters:
    """The ranges of ``path``, or the bundled snapshot without one; read once per path."""
    if path is None:
        text = resources.files("leadline.kit").joinpath("data", BUNDLED).read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    return Datacenters(text.splitlines())
