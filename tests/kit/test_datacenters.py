"""Datacenter, cloud and VPN networks: the bundled snapshot and a file of an operator's."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadline.kit.datacenters import Datacenters, load


def test_the_bundled_snapshot_knows_the_big_providers() -> None:
    ranges = load()
    assert ranges.networks > 5000
    assert ranges.provider_of("3.5.140.10") == "aws"
    assert ranges.provider_of("104.16.1.1") == "cloudflare"
    assert ranges.provider_of("2606:4700::1") == "cloudflare"
    assert ranges.provider_of("::ffff:104.16.1.1") == "cloudflare"
    # Homes, offices and private networks are no one's.
    for address in ("81.2.69.160", "192.168.1.10", "10.0.0.1", "2001:db8::1"):
        assert ranges.provider_of(address) is None
    for junk in (None, "", "not an address", "999.1.1.1"):
        assert ranges.provider_of(junk) is None
    assert "3.5.140.10" in ranges
    assert "81.2.69.160" not in ranges


def test_overlapping_networks_keep_the_first_provider(tmp_path: Path) -> None:
    ranges = Datacenters(
        [
            "# a comment, and a blank line",
            "",
            "100.64.0.0/10 shared  # not global: skipped",
            "198.51.100.0/24 documentation",
            "11.1.0.0/24 big  # inline comment",
            "11.1.0.128/25 inside",
            "11.1.0.200/29 inside-too",
            "11.1.1.0/24",
            "2a00:1::/48 six",
        ]
    )
    assert ranges.provider_of("11.1.0.1") == "big"
    assert ranges.provider_of("11.1.0.201") == "big"
    assert ranges.provider_of("11.1.1.255") == "unknown"
    assert ranges.provider_of("11.1.2.0") is None
    assert ranges.provider_of("2a00:1::5") == "six"
    assert ranges.provider_of("2a00:2::5") is None
    assert ranges.provider_of("100.64.1.1") is None
    assert ranges.provider_of("198.51.100.7") is None


def test_an_operators_file_is_read_and_a_bad_line_named(tmp_path: Path) -> None:
    good = tmp_path / "ranges.txt"
    good.write_text("11.2.0.0/24 lab\n")
    assert load(good).provider_of("11.2.0.9") == "lab"
    bad = tmp_path / "bad.txt"
    bad.write_text("11.2.0.0/24 lab\nnonsense here\n")
    with pytest.raises(ValueError, match="line 2"):
        load(bad)
