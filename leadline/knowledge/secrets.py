"""A workspace's embeddings key at rest, sealed with the instance's secret key
(leadline.kit.sealing) for a purpose of its own: it opens nothing else, and nothing else's key
opens it."""

from __future__ import annotations

from leadline.kit import sealing

# Changing it makes every stored key unreadable: it names what the derived key is for.
_PURPOSE = b"leadline knowledge embeddings key v1"


def seal(secret_key: str, key: str) -> str:
    return sealing.seal(secret_key, _PURPOSE, key)


def unseal(secret_key: str, sealed: str) -> str:
    """The key; empty when none is stored, or when the secret key changed since."""
    return sealing.unseal(secret_key, _PURPOSE, sealed)
