"""Destinations' credentials at rest: Fernet (AES-128-CBC with HMAC-SHA256) under a key
derived by HKDF-SHA256 from the instance's secret key, so the database alone, or a backup of
it, never holds a usable platform token."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Changing it makes every stored credential unreadable: it names what the key is for.
_INFO = b"leadline conversions credentials v1"


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(secret_key: str, credentials: Mapping[str, str]) -> str:
    plain = json.dumps(dict(credentials), separators=(",", ":"), sort_keys=True).encode()
    return _fernet(secret_key).encrypt(plain).decode("ascii")


def unseal(secret_key: str, sealed: str) -> dict[str, str]:
    """The credentials; empty when there are none, or when the secret key changed since they
    were stored (the destination's test connection then says they must be given again)."""
    if not sealed:
        return {}
    try:
        plain = _fernet(secret_key).decrypt(sealed.encode("ascii"))
    except (InvalidToken, ValueError):
        return {}
    found: dict[str, str] = json.loads(plain)
    return found
