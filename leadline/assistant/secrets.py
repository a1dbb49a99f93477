"""The provider's key at rest, sealed as the conversion destinations' credentials are
(leadline/conversions/secrets.py): Fernet under a key derived by HKDF-SHA256 from the
instance's secret key, with a purpose of its own, so the database alone never holds it."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Changing it makes every stored key unreadable: it names what the derived key is for.
_INFO = b"leadline assistant provider key v1"


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(secret_key: str, key: str) -> str:
    return _fernet(secret_key).encrypt(key.encode()).decode("ascii") if key else ""


def unseal(secret_key: str, sealed: str) -> str:
    """The key; empty when none is stored, or when the secret key changed since (it must
    then be given again)."""
    if not sealed:
        return ""
    try:
        return _fernet(secret_key).decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        return ""
