"""The page a browser's request came from, read off its Origin or Referer."""

from __future__ import annotations

from leadline.sites.cache import PageHosts
from leadline.sites.service import page_host


def test_the_origin_names_the_page_and_the_referer_stands_in_for_it() -> None:
    assert page_host("https://Shop.Example:8443", None) == "shop.example"
    assert page_host(None, "https://blog.example/post?id=1") == "blog.example"
    assert page_host("https://shop.example", "https://other.example/") == "shop.example"
    assert page_host("null", None) is None
    assert page_host(None, None) is None
    assert page_host("", "") is None


def test_long_pages_are_parsed_but_not_kept() -> None:
    """Pages are parsed once and kept (a site's requests carry few Origins); a long Referer is
    not kept, so that requests with made-up headers cannot fill the memory."""
    hosts = PageHosts()
    assert hosts.host("https://kept.example", None) == "kept.example"
    assert hosts.host("https://kept.example", None) == "kept.example"
    info = hosts._host_of.cache_info()
    assert (info.hits, info.currsize) == (1, 1)
    long = "https://long.example/" + "a" * 2000
    assert hosts.host(None, long) == "long.example"
    assert hosts._host_of.cache_info().currsize == 1
    assert hosts.host("null", None) is None


def test_each_app_keeps_its_own_pages() -> None:
    first, second = PageHosts(), PageHosts()
    first.host("https://one.example", None)
    assert second._host_of.cache_info().currsize == 0
