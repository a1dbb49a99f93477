"""Passwords: Argon2id hashes (argon2-cffi's defaults, RFC 9106's low-memory profile), hashed
and checked on a worker thread, as each takes tens of milliseconds of CPU."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from leadline.errors import ValidationFailed

MIN_LENGTH = 10
# Argon2 takes any length; a bound keeps one request from hashing megabytes.
MAX_LENGTH = 1024

_HASHER = PasswordHasher()


def check_new(password: str, again: str | None = None, *, field: str = "password") -> str:
    """``password`` if it may become one: long enough, not too long, typed the same twice."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(
            f"a password has at least {MIN_LENGTH} characters", details={"field": field}
        )
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(
            f"a password has at most {MAX_LENGTH} characters", details={"field": field}
        )
    if again is not None and again != password:
        raise ValidationFailed(
            "the two passwords are not the same", details={"field": f"{field}_again"}
        )
    return password


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


async def matches(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one hashed. Without a hash (no such person, or no password)
    a stand-in is checked all the same, so an answer takes as long either way and does not
    tell which addresses have accounts."""
    if len(password) > MAX_LENGTH:
        return False
    return await asyncio.to_thread(_verify, password_hash or _stand_in(), password, password_hash)


def _verify(against: str, password: str, real: str | None) -> bool:
    try:
        return _HASHER.verify(against, password) and real is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def _stand_in() -> str:
    return _HASHER.hash("a password no one has")
