"""What the server adds to a visit: browser, system and device from the user agent, whether it
is a bot (and why), and the country."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import iptocc
from crawlerdetect import CrawlerDetect
from ua_parser import parse

_crawlers = CrawlerDetect()


@dataclass(frozen=True)
class Agent:
    browser: str | None
    os: str | None
    device: str | None
    # Why the visit is a bot's (kept aside, never counted), or None for a person.
    bot_reason: str | None


class UserAgents:
    """User agents described once each, for as long as the app that holds this runs: parsing
    costs milliseconds, a cache hit nothing."""

    def __init__(self, size: int = 20_000) -> None:
        self.describe: Callable[[str], Agent] = lru_cache(maxsize=size)(describe)


def describe(user_agent: str) -> Agent:
    """Browser, system, device and bot reason of a user agent, parsed now."""
    if not user_agent.strip():
        return Agent(None, None, None, "no user agent")
    parsed = parse(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else None
    system = parsed.os.family if parsed.os else None
    device = parsed.device.family if parsed.device else None
    reason = None
    if _crawlers.isCrawler(user_agent):
        reason = f"crawler: {', '.join(_crawlers.getMatches() or ['user agent'])}"[:64]
    elif "headless" in user_agent.lower():
        reason = "headless browser"
    return Agent(_known(browser), _known(system), _known(device), reason)


def _known(family: str | None) -> str | None:
    return None if family in (None, "Other") else str(family)[:64]


def country(ip: str, trusted_header_value: str | None) -> str | None:
    """ISO 3166 alpha-2: from the CDN's header when one is trusted, else from the address."""
    if trusted_header_value:
        code = trusted_header_value.strip().upper()
        return code if len(code) == 2 and code.isalpha() and code != "XX" else None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if not address.is_global:
        return None
    found = iptocc.country_code(str(address))
    return str(found) if found else None


def warm_up(agents: UserAgents) -> None:
    """Load the parsers' data now rather than on a visitor's request (the app calls this at
    start-up, before it freezes what it has loaded out of the garbage collector's passes)."""
    agents.describe(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/140.0.0.0 Safari/537.36"
    )
    country("8.8.8.8", None)
