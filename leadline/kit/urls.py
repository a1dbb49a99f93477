"""URLs as Leadline reads them: parsed once, with a port that is a number in range and a host
that is well formed, or not at all. ``urllib.parse`` raises ValueError on some malformed URLs
(``https://[::1/``) only when a part is read, and on others (``https://x:99999/``) only when
the port is; every reader here gets None instead and says what it refuses."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Url:
    scheme: str
    # Lower-case, without brackets for IPv6; None when the URL names no host.
    host: str | None
    port: int | None
    path: str
    query: str


def parse_url(text: str) -> Url | None:
    """``text`` parsed, or None when any of its parts does not parse."""
    try:
        parts = urlsplit(text)
        return Url(parts.scheme.lower(), parts.hostname, parts.port, parts.path, parts.query)
    except ValueError:
        return None
