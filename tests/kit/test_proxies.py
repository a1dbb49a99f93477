"""Who a request came from behind reverse proxies: only trusted proxies' forwarded headers
are believed, and of X-Forwarded-For only what trusted proxies wrote."""

from __future__ import annotations

from typing import Any

import pytest

from leadline.kit.proxies import TrustedProxies, parse_networks

PROXIES = TrustedProxies.from_setting("10.0.0.0/8, 192.0.2.1, ::1")


def scope(peer: str, *headers: tuple[str, str], kind: str = "http") -> dict[str, Any]:
    return {
        "type": kind,
        "scheme": "http" if kind == "http" else "ws",
        "client": (peer, 43210),
        "headers": [(name.encode(), value.encode()) for name, value in headers],
    }


def test_the_setting_takes_addresses_and_networks_or_every_peer() -> None:
    assert [str(n) for n in parse_networks("10.0.0.0/8, 192.0.2.1,,::1") or ()] == [
        "10.0.0.0/8",
        "192.0.2.1/32",
        "::1/128",
    ]
    assert parse_networks("") == ()
    assert parse_networks("*") is None
    with pytest.raises(ValueError, match=r"'proxy\.example' is neither"):
        parse_networks("10.0.0.1, proxy.example")


@pytest.mark.parametrize(
    ("forwarded_for", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        # Each trusted proxy added the address it was connected from.
        ("203.0.113.7, 10.1.2.3", "203.0.113.7"),
        # Left of the first untrusted address is what the client wrote itself.
        ("198.51.100.66, 203.0.113.7, 10.1.2.3", "203.0.113.7"),
        # Only proxies: the client is on their network.
        ("10.9.9.9, 10.1.2.3", "10.9.9.9"),
        # Not an address: nothing left of it is believed; the nearest address is.
        ("203.0.113.7, unknown, 10.1.2.3", "10.1.2.3"),
        ("nonsense", "10.0.0.2"),
        # Ports, brackets, IPv4 written as IPv6.
        ("203.0.113.7:51234", "203.0.113.7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
    ],
)
def test_the_client_is_the_first_untrusted_address_from_the_right(
    forwarded_for: str, client: str
) -> None:
    assert PROXIES.client_of("10.0.0.2", forwarded_for) == client


def test_a_trusted_proxy_sets_the_client_and_the_scheme() -> None:
    found = scope("10.0.0.2", ("x-forwarded-for", "203.0.113.7"), ("x-forwarded-proto", "https"))
    PROXIES.resolve(found)
    assert (found["client"], found["scheme"]) == (("203.0.113.7", 0), "https")
    # Two headers are one list; the proxy nearest to us wrote the last scheme.
    found = scope(
        "192.0.2.1",
        ("x-forwarded-for", "198.51.100.66"),
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-proto", "https, http"),
    )
    PROXIES.resolve(found)
    assert (found["client"], found["scheme"]) == (("203.0.113.7", 0), "http")
    socket = scope("::1", ("x-forwarded-proto", "https"), kind="websocket")
    PROXIES.resolve(socket)
    assert (socket["client"], socket["scheme"]) == (("::1", 43210), "wss")


def test_anyone_else_cannot_set_them() -> None:
    for peer in ("203.0.113.9", "11.0.0.1", "testclient"):
        found = scope(peer, ("x-forwarded-for", "198.51.100.66"), ("x-forwarded-proto", "https"))
        PROXIES.resolve(found)
        assert (found["client"], found["scheme"]) == ((peer, 43210), "http")
    nobody = TrustedProxies.from_setting("")
    assert not nobody.enabled
    found = scope("10.0.0.2", ("x-forwarded-for", "198.51.100.66"))
    nobody.resolve(found)
    assert found["client"] == ("10.0.0.2", 43210)


def test_every_peer_is_trusted_with_a_star() -> None:
    found = scope("203.0.113.9", ("x-forwarded-for", "198.51.100.66, 203.0.113.1"))
    TrustedProxies.from_setting("*").resolve(found)
    # Every hop is trusted: the leftmost address is the client.
    assert found["client"] == ("198.51.100.66", 0)
