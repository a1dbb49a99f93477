"""Prefixed, time-ordered identifiers (``lead_01j9...``).

The first 10 characters encode the millisecond timestamp, so ids sort by creation time and new
rows land at the right edge of their primary-key index; the remaining 16 are random.
"""

from __future__ import annotations

import random
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lowercase


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    return id_from(prefix, time.time_ns() // 1_000_000, secrets.randbits(80))


def id_from(prefix: str, millis: int, randomness: int) -> str:
    """The id for a given time and 80 random bits (for loading data with ids that sort right)."""
    return f"{prefix}_{_base32(millis, 10)}{_base32(randomness, 16)}"


def request_id() -> str:
    # Only has to tell requests apart in logs: the process's own generator (reseeded in every
    # forked child) is enough, and unlike the system's it costs no system call.
    return f"req_{random.getrandbits(48):012x}"
