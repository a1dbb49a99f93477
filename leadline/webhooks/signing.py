"""Webhook secrets and signatures: the Standard Webhooks scheme, plus Leadiosa's header.

Standard Webhooks: ``webhook-signature: v1,<base64 HMAC-SHA256>`` over
``"{webhook-id}.{webhook-timestamp}.{body}"``, keyed with the base64-decoded part of the
``whsec_`` secret; several signatures are separated by spaces (during a secret rotation, one per
secret). Leadiosa: ``X-Leadiosa-Signature`` is the lowercase hex HMAC-SHA256 of the raw body,
keyed with the secret as shown to the user.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


@functools.lru_cache(maxsize=4096)
def _key(secret: str) -> bytes:
    # Cached: every delivery to an endpoint is signed with the same one or two secrets.
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def leadiosa_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(
    keys: Sequence[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Headers for one attempt. ``keys`` is the current secret, then the previous one while
    its grace period lasts: Standard Webhooks receivers accept either signature; Leadiosa's
    single-value header carries the current one, and the previous one travels in
    ``X-Leadiosa-Signature-Previous``."""
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            standard_signature(key, message_id, timestamp, body) for key in keys
        ),
        "X-Leadiosa-Signature": leadiosa_signature(keys[0], body),
    }
    if len(keys) > 1:
        headers["X-Leadiosa-Signature-Previous"] = leadiosa_signature(keys[1], body)
    return headers
