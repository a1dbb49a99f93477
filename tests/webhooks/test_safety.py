"""Which addresses and URLs webhooks may go to."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from leadline.webhooks.safety import UnsafeTarget, is_global, resolve_target, resolving_with

# address -> may receive webhooks
PLAIN = {
    "8.8.8.8": True,
    "93.184.216.34": True,
    "127.0.0.1": False,
    "0.0.0.0": False,
    "10.1.2.3": False,
    "172.16.0.1": False,
    "192.168.1.1": False,
    "169.254.169.254": False,  # link-local, where cloud metadata lives
    "100.64.0.1": False,  # carrier-grade NAT
    "198.18.0.1": False,  # benchmarking
    "192.0.2.1": False,  # documentation
    "198.51.100.1": False,
    "203.0.113.1": False,
    "192.0.0.8": False,  # IETF protocol assignments
    "192.0.0.171": False,
    "192.88.99.1": False,  # 6to4 relay anycast
    "224.0.0.1": False,  # multicast
    "239.255.255.250": False,
    "240.0.0.1": False,  # reserved
    "255.255.255.255": False,
    "2606:4700:4700::1111": True,
    "2a00:1450:4001::200e": True,
    "::1": False,
    "::": False,
    "fc00::1": False,  # unique local
    "fd12:3456::1": False,
    "fe80::1": False,  # link-local
    "fec0::1": False,  # site-local
    "ff02::1": False,  # multicast
    "2001:db8::1": False,  # documentation
    "100::1": False,  # discard
}

# How each IPv6 form carries an IPv4 address: (form, with a private one, with a public one).
EMBEDDINGS = [
    ("IPv4-mapped", "::ffff:127.0.0.1", "::ffff:8.8.8.8"),
    ("IPv4-mapped", "::ffff:169.254.169.254", "::ffff:93.184.216.34"),
    ("IPv4-compatible", "::127.0.0.1", "::8.8.8.8"),
    ("IPv4-compatible", "::10.0.0.1", "::93.184.216.34"),
    ("NAT64 well-known", "64:ff9b::127.0.0.1", "64:ff9b::8.8.8.8"),
    ("NAT64 well-known", "64:ff9b::a9fe:a9fe", "64:ff9b::5db8:d822"),
    ("NAT64 local-use", "64:ff9b:1::192.168.0.1", "64:ff9b:1::8.8.8.8"),
    ("NAT64 local-use", "64:ff9b:1:ab::a00:1", "64:ff9b:1:ab::808:808"),
    ("6to4", "2002:7f00:1::1", "2002:808:808::1"),
    ("6to4", "2002:a9fe:a9fe:1::1", "2002:5db8:d822::1"),
    # Teredo: server 8.8.8.8; the client (last 32 bits, inverted) 127.0.0.1, then 8.8.8.8.
    ("Teredo client", "2001:0:808:808::80ff:fffe", "2001:0:808:808::f7f7:f7f7"),
    # Teredo: server 10.0.0.1, then 93.184.216.34; client 8.8.8.8.
    ("Teredo server", "2001:0:a00:1::f7f7:f7f7", "2001:0:5db8:d822::f7f7:f7f7"),
]


@pytest.mark.parametrize(("address", "allowed"), PLAIN.items())
def test_plain_addresses(address: str, allowed: bool) -> None:
    assert is_global(ipaddress.ip_address(address)) is allowed


@pytest.mark.parametrize(("form", "private", "public"), EMBEDDINGS)
def test_an_embedded_ipv4_address_decides(form: str, private: str, public: str) -> None:
    assert is_global(ipaddress.ip_address(private)) is False, form
    assert is_global(ipaddress.ip_address(public)) is True, form


def resolve(url: str, answers: list[str] | None = None, *, allow_private: bool = False) -> None:
    async def lookup(host: str, port: int) -> list[str]:
        assert answers is not None, f"{host} was looked up"
        return answers

    async def main() -> None:
        with resolving_with(lookup):
            await resolve_target(url, allow_private=allow_private)

    asyncio.run(main())


@pytest.mark.parametrize("form", ["private", "public"])
def test_embedded_addresses_in_urls_and_answers(form: str) -> None:
    for _, private, public in EMBEDDINGS:
        address = private if form == "private" else public
        if form == "public":
            resolve(f"https://[{address}]/hook")
            resolve("https://hooks.example.test/hook", [address])
            continue
        with pytest.raises(UnsafeTarget, match=r"which leads to .*not a public address"):
            resolve(f"https://[{address}]/hook")
        with pytest.raises(UnsafeTarget, match=r"which leads to .*not a public address"):
            resolve("https://hooks.example.test/hook", ["8.8.8.8", address])


def test_every_answer_must_be_public() -> None:
    resolve("https://hooks.example.test/hook", ["8.8.8.8", "2606:4700:4700::1111"])
    with pytest.raises(UnsafeTarget, match=r"resolves to 10\.0\.0\.1, which is not a public"):
        resolve("https://hooks.example.test/hook", ["8.8.8.8", "10.0.0.1"])
    with pytest.raises(UnsafeTarget, match=r"'hooks.example.test' does not resolve"):
        resolve("https://hooks.example.test/hook", [])
    resolve("https://hooks.example.test/hook", ["10.0.0.1"], allow_private=True)


CONTROL = ["\n", "\r", "\t", "\x00", "\x1b", "\x1f", "\x7f", "\x85", " ", "\u00a0", "\u2028"]


@pytest.mark.parametrize("char", CONTROL)
def test_control_characters_and_spaces_are_refused(char: str) -> None:
    for url in (f"https://exa{char}mple.com/hook", f"https://example.com/ho{char}ok"):
        for allow_private in (False, True):
            with pytest.raises(UnsafeTarget, match=r"^url must not contain control characters"):
                resolve(url, allow_private=allow_private)
