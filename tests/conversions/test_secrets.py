"""Destinations' credentials at rest: sealed under the instance's secret key."""

from __future__ import annotations

from leadline.conversions import secrets


def test_sealed_credentials_open_with_the_same_key_only() -> None:
    credentials = {"token": "tok-123456", "refresh": "ref-abcdef"}
    sealed = secrets.seal("instance-secret", credentials)
    assert "tok-123456" not in sealed
    assert "ref-abcdef" not in sealed
    assert secrets.unseal("instance-secret", sealed) == credentials
    # Another instance's key (or a changed one) reads nothing rather than failing.
    assert secrets.unseal("another-secret", sealed) == {}
    assert secrets.unseal("instance-secret", "") == {}


def test_each_seal_differs() -> None:
    first = secrets.seal("k", {"token": "t"})
    assert first != secrets.seal("k", {"token": "t"})
