"""Sites kept in memory for the routes that read one on every request: sites by key for the
tracking routes, and what a capture checks of its sender (the site, its domains and forms, the
workspace's address rules). Both follow ``kit.readcache``: 60 seconds while this process hears
the other processes' changes through Redis, one second otherwise, and forgotten at once when a
change to sites, domains, forms or address rules (``sites``) commits."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from leadline.auth import service as auth
from leadline.auth.service import Principal
from leadline.db import Database
from leadline.kit.changes import PRINCIPALS, SITES, ChangeBus
from leadline.kit.readcache import ReadCache
from leadline.sites import forms, ip_rules, service
from leadline.sites.ip_rules import AddressRules
from leadline.sites.service import SiteInfo


class SiteCache(ReadCache[Database, SiteInfo | None]):
    """Sites by key (unknown keys too), so the tracking routes do not read the database on
    every request. A key asked for steadily is refreshed in the background and never waited
    on; requests that find no entry share one read."""

    def __init__(self, bus: ChangeBus | None = None, **options: Any) -> None:
        # ``options``: ReadCache's ttl, short_ttl, size and clock.
        super().__init__(_site, bus, (SITES,), what="site", name="sites", **options)


async def _site(database: Database, site_key: str) -> SiteInfo | None:
    async with database.transaction() as session:
        return await service.site_by_key(session, site_key)


@dataclass(frozen=True, kw_only=True)
class CaptureSite(SiteInfo):
    """A site as a capture checks who sends through it: the site with its domains, the
    thank-you page of each of its enabled forms by form id (None when one has none), and the
    caller its own pages capture as (an integration key's rights in its workspace, closed or
    not: the capture refuses a closed workspace's submissions as it checks who sends them)."""

    forms: Mapping[str, str | None]
    principal: Principal


class CaptureSites:
    """What a capture reads about its sender, from memory: sites by key with their forms and
    principal, and each workspace's address rules. Forgotten on ``sites``, and the sites on
    ``principals`` too (a workspace's change: the site's principal carries its workspace)."""

    def __init__(
        self,
        bus: ChangeBus | None = None,
        *,
        ttl: float = 60.0,
        short_ttl: float = 1.0,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sites = ReadCache(
            _capture_site,
            bus,
            (SITES, PRINCIPALS),
            ttl=ttl,
            short_ttl=short_ttl,
            size=size,
            clock=clock,
            what="site",
            name="capture_sites",
        )
        self.rules = ReadCache(
            _address_rules,
            bus,
            (SITES,),
            ttl=ttl,
            short_ttl=short_ttl,
            size=size,
            clock=clock,
            what="address rules of workspace",
            name="address_rules",
        )

    async def site(self, database: Database, site_key: str) -> CaptureSite | None:
        return await self.sites.get(database, site_key)

    async def for_page(
        self, database: Database, site_key: str, page_host: str | None
    ) -> CaptureSite:
        """The site with ``site_key`` for a page on ``page_host``; DomainDenied (logged)
        otherwise, as ``service.site_for_page``."""
        found = await self.site(database, site_key) if site_key and page_host else None
        return service.check_page(site_key, page_host, found)

    async def address_rules(self, database: Database, workspace_id: str) -> AddressRules:
        return await self.rules.get(database, workspace_id)


async def _capture_site(database: Database, site_key: str) -> CaptureSite | None:
    async with database.transaction() as session:
        found = await service.site_by_key(session, site_key)
        if found is None:
            return None
        return CaptureSite(
            found.site,
            found.domains,
            found.workspace_closed,
            forms=await forms.enabled_forms(session, found.site_id),
            principal=await auth.site_principal(session, found.workspace_id),
        )


async def _address_rules(database: Database, workspace_id: str) -> AddressRules:
    async with database.transaction() as session:
        return await ip_rules.address_rules(session, workspace_id)


class PageHosts:
    """The hosts of the pages requests come from, parsed once each for the routes that ask on
    every request: a site's requests carry few distinct Origins. Only short pages are kept, so
    that requests with made-up headers cannot fill the memory."""

    KEPT_PAGE = 300

    def __init__(self, size: int = 4096) -> None:
        self._host_of = lru_cache(maxsize=size)(service.host_of)

    def host(self, origin: str | None, referer: str | None) -> str | None:
        page = service.page_of(origin, referer)
        if page is None:
            return None
        return self._host_of(page) if len(page) <= self.KEPT_PAGE else service.host_of(page)
