"""API key material: random tokens, shown once, kept only as SHA-256 digests."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "ll_"
_VISIBLE = 10  # characters of the token kept in clear, so people can tell keys apart


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def visible_prefix(token: str) -> str:
    """What lists show of a key: never more than a quarter of it (a key given from elsewhere
    may be short)."""
    return token[: min(_VISIBLE, len(token) // 4)]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
