"""Where a visit came from: click IDs and UTM tags of its landing URL, its channel (paid,
search, social, referral, direct), the rollup dimensions it counts under, and its touch (the
attribution a visitor's record keeps)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from leadline.errors import ValidationFailed
from leadline.kit.time import iso_micros
from leadline.kit.urls import parse_url
from leadline.models import CLICK_ID_FIELDS, CLICK_PLATFORMS
from leadline.sites.service import host_allowed

# Landing-URL parameters stored verbatim under these names (matched case-insensitively).
_CLICK_PARAMS: dict[str, str] = {
    name: name for name in CLICK_ID_FIELDS if name not in ("fbc", "fbp", "ga4cid", "ga4sid")
}
_UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id")
_PAID_MEDIUMS = frozenset(
    {
        "cpc",
        "ppc",
        "paid",
        "paidsearch",
        "paid_search",
        "paid-social",
        "paid_social",
        "cpm",
        "cpv",
        "cpa",
        "display",
        "banner",
        "retargeting",
    }
)
_SEARCH = re.compile(
    r"(^|\.)(google\.[a-z.]+|bing\.com|duckduckgo\.com|search\.yahoo\.com|yahoo\.[a-z.]+|"
    r"baidu\.com|yandex\.[a-z.]+|ecosia\.org|search\.brave\.com|startpage\.com)$"
)
_SOCIAL = re.compile(
    r"(^|\.)(facebook\.com|fb\.com|instagram\.com|t\.co|twitter\.com|x\.com|linkedin\.com|"
    r"lnkd\.in|reddit\.com|tiktok\.com|pinterest\.[a-z.]+|youtube\.com|snapchat\.com|"
    r"threads\.net|bsky\.app)$"
)


def landing_attribution(url: str, now: datetime) -> dict[str, Any]:
    """Click IDs and UTM tags from a landing URL, plus the site's origin and the path."""
    parts = parse_url(url)
    if parts is None:
        raise ValidationFailed(f"url does not parse as a URL: {url[:200]!r}")
    found: dict[str, Any] = {}
    if parts.scheme in ("http", "https") and parts.host:
        port = f":{parts.port}" if parts.port else ""
        found["website"] = f"{parts.scheme}://{parts.host}{port}"[:512]
        found["path"] = (parts.path or "/")[:2048]
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        name = key.lower()
        value = value.strip()[:512]
        if not value:
            continue
        if name in _CLICK_PARAMS and name not in found:
            found[_CLICK_PARAMS[name]] = value
        elif name == "fbclid" and "fbc" not in found:
            found["fbc"] = f"fb.1.{int(now.timestamp() * 1000)}.{value}"[:512]
        elif name in _UTM and name not in found:
            found[name] = value
    return found


def has_click(attribution: dict[str, Any]) -> bool:
    return any(attribution.get(name) for name in (*_CLICK_PARAMS, "fbc"))


def channel_of(attribution: dict[str, Any], referrer: str, site_domains: list[str]) -> str:
    """paid (a click ID or a paid medium), search, social, referral or direct."""
    medium = (attribution.get("utm_medium") or "").lower()
    if has_click(attribution) or medium in _PAID_MEDIUMS:
        return "paid"
    host = external_host(referrer, site_domains)
    if host is None:
        return "direct"
    if _SEARCH.search(host):
        return "search"
    if _SOCIAL.search(host):
        return "social"
    return "referral"


def external_host(referrer: str, site_domains: list[str]) -> str | None:
    if not referrer:
        return None
    parts = parse_url(referrer)
    if parts is None:
        raise ValidationFailed(f"referrer does not parse as a URL: {referrer[:200]!r}")
    host = parts.host or ""
    return host if host and not host_allowed(host, site_domains) else None


def rollup_dimensions(
    columns: dict[str, Any], referrer: str, site_domains: list[str]
) -> dict[str, str]:
    """The rollup dimensions a visit counts under, beside the total: name -> value."""
    host = external_host(referrer, site_domains)
    found = {
        "channel": columns.get("channel"),
        "source": columns.get("utm_source") or host or "(direct)",
        "campaign": columns.get("utm_campaign"),
        "referrer": host,
        "landing": columns.get("path"),
        "country": columns.get("country"),
        "browser": columns.get("browser"),
        "os": columns.get("os"),
        "device": columns.get("device"),
        "platform": click_platform(columns),
    }
    return {name: str(value)[:512] for name, value in found.items() if value}


def click_platform(columns: dict[str, Any]) -> str | None:
    """The ad platform of the visit's click ID (the first of ``CLICK_PLATFORMS`` it carries)."""
    for name, platform in CLICK_PLATFORMS:
        if columns.get(name):
            return platform
    return None


_TOUCH_FIELDS = ("website", "path", "referrer", "clicked_at", *_UTM, *CLICK_ID_FIELDS)


def touch_of(columns: dict[str, Any], channel: str, now: datetime) -> str | None:
    """A visit's attribution, when it came from somewhere: an ad click, a tagged link, or a
    search engine, social network or other site."""
    if channel == "direct" and not any(columns.get(name) for name in _UTM):
        return None
    touch: dict[str, Any] = {"channel": channel}
    for name in _TOUCH_FIELDS:
        value = columns.get(name)
        if value:
            touch[name] = iso_micros(value) if isinstance(value, datetime) else value
    return msgspec.json.encode(touch).decode()
