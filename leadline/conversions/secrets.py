"""Destinations' credentials at rest, sealed with the instance's secret key
(leadline.kit.sealing), so the database alone, or a backup of it, never holds a usable platform
token."""

from __future__ import annotations

import json
from collections.abc import Mapping

from leadline.kit import sealing

# Changing it makes every stored credential unreadable: it names what the key is for.
_PURPOSE = b"leadline conversions credentials v1"


def seal(secret_key: str, credentials: Mapping[str, str]) -> str:
    plain = json.dumps(dict(credentials), separators=(",", ":"), sort_keys=True)
    return sealing.seal(secret_key, _PURPOSE, plain)


def unseal(secret_key: str, sealed: str) -> dict[str, str]:
    """The credentials; empty when there are none, or when the secret key changed since they
    were stored (the destination's test connection then says they must be given again)."""
    plain = sealing.unseal(secret_key, _PURPOSE, sealed)
    if not plain:
        return {}
    found: dict[str, str] = json.loads(plain)
    return found
