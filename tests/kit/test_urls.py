"""URLs parsed whole or not at all."""

from __future__ import annotations

import pytest

from leadline.kit.urls import Url, parse_url


@pytest.mark.parametrize(
    "text", ["https://[::1/", "https://x:99999/", "http://shop.example:abc/", "https://[zz]/"]
)
def test_a_url_whose_host_or_port_does_not_parse_is_none(text: str) -> None:
    assert parse_url(text) is None


def test_a_url_parses_into_its_parts() -> None:
    assert parse_url("HTTPS://Shop.Example:8443/p?q=1") == Url(
        "https", "shop.example", 8443, "/p", "q=1"
    )
    assert parse_url("https://[2001:db8::1]/") == Url("https", "2001:db8::1", None, "/", "")
