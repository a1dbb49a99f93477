"""Passwords: Argon2id at its full cost, what may become one, and checks that say nothing
about which accounts exist."""

from __future__ import annotations

import asyncio

import pytest

from leadline.accounts import passwords
from leadline.errors import ValidationFailed


def test_a_password_is_hashed_with_argon2id_at_rfc_9106_low_memory_cost() -> None:
    hashed = asyncio.run(passwords.hash_password("correct horse battery"))
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "correct horse battery" not in hashed
    assert asyncio.run(passwords.matches(hashed, "correct horse battery"))
    assert not asyncio.run(passwords.matches(hashed, "correct horse batterY"))
    assert not passwords.needs_rehash(hashed)
    # Salted: the same password hashes differently each time.
    assert asyncio.run(passwords.hash_password("correct horse battery")) != hashed


def test_no_hash_and_a_broken_hash_match_nothing() -> None:
    assert not asyncio.run(passwords.matches(None, "a password no one has"))
    assert not asyncio.run(passwords.matches("not a hash", "anything at all"))
    assert not asyncio.run(passwords.matches("$argon2id$v=19$m=8,t=1,p=1$", "x" * 2000))


def test_a_weaker_hash_is_due_for_rehashing() -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct horse")
    assert passwords.needs_rehash(weak)


@pytest.mark.parametrize(
    ("password", "again", "says"),
    [
        ("short", None, "at least 10"),
        ("x" * 1025, None, "at most 1024"),
        ("long enough one", "long enough two", "not the same"),
    ],
)
def test_what_may_not_become_a_password(password: str, again: str | None, says: str) -> None:
    with pytest.raises(ValidationFailed, match=says):
        passwords.check_new(password, again)
    assert passwords.check_new("ten chars!") == "ten chars!"
