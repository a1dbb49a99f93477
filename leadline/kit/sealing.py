"""Secrets kept at rest that Leadline must read back (ad platforms' credentials, an AI
provider's key): Fernet (AES-128-CBC with HMAC-SHA256) under a key derived by HKDF-SHA256 from
the instance's secret key and a purpose, so the database alone, or a backup of it, never holds a
usable secret, and a secret sealed for one purpose cannot be read as another's."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _fernet(secret_key: str, purpose: bytes) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(secret_key: str, purpose: bytes, plain: str) -> str:
    """``plain`` sealed for ``purpose``; empty stays empty."""
    if not plain:
        return ""
    return _fernet(secret_key, purpose).encrypt(plain.encode()).decode("ascii")


def unseal(secret_key: str, purpose: bytes, sealed: str) -> str:
    """What was sealed; empty when nothing was, or when the instance's secret key changed since
    (the secret must then be given again)."""
    if not sealed:
        return ""
    try:
        return _fernet(secret_key, purpose).decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        return ""
