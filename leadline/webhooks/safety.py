"""Where webhooks may go: public HTTPS addresses, unless private targets are allowed.

A webhook URL is chosen by an API client, and the server then makes requests to it: without
this check, a key holder could make Leadline reach the database, a cloud metadata service or
anything else only the server can see. The host is resolved and every address it resolves to
must be globally routable, when the endpoint is created and again before every delivery (a name
may resolve elsewhere later).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from leadline.errors import ValidationFailed


class UnsafeTarget(ValidationFailed):
    code = "unsafe_webhook_target"


def _first_private(addresses: list[str]) -> str | None:
    for raw in addresses:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global:
            return str(address)
    return None


async def check_target(url: str, *, allow_private: bool) -> None:
    """Raise UnsafeTarget unless ``url`` may receive webhooks."""
    parts = urlsplit(url)
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed_schemes:
        raise UnsafeTarget(
            "url must be an https:// URL" if not allow_private else "url must be http(s)",
            details={"field": "url"},
        )
    if not parts.hostname:
        raise UnsafeTarget("url has no host", details={"field": "url"})
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeTarget("url has an invalid port", details={"field": "url"}) from None
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM
        )
    except OSError:
        raise UnsafeTarget(
            f"url's host '{parts.hostname}' does not resolve", details={"field": "url"}
        ) from None
    private = _first_private([str(info[4][0]) for info in infos])
    if private is not None:
        raise UnsafeTarget(
            f"url's host '{parts.hostname}' resolves to {private}, which is not a public "
            "address; webhooks only go to public addresses",
            details={"field": "url"},
        )
