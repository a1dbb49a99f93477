"""Sites: a workspace's websites, the hosts they may track from and their public keys."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.errors import Conflict, Forbidden, NotFound, ValidationFailed
from leadline.kit.changes import SITES, announce
from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.kit.urls import parse_url
from leadline.models import Site, SiteDomain
from leadline.sites.repository import SiteRepository
from leadline.workspaces import service as workspaces

_HOST = re.compile(
    r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
)
log = logging.getLogger(__name__)
_KEY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class SiteInfo:
    site: Site
    domains: list[str]
    # A closed workspace's sites take no tracking and no captures (they answer 409).
    workspace_closed: bool = False
    # The site's ids as plain strings: the tracking routes read them for every event, and
    # an ORM attribute costs a descriptor call each time.
    site_id: str = field(init=False)
    workspace_id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "site_id", self.site.id)
        object.__setattr__(self, "workspace_id", self.site.workspace_id)


def normalise_domain(raw: str) -> str:
    """A host as sites list it: lower-case, no scheme, port or path; ``*.`` for subdomains."""
    text = raw.strip().lower()
    if "://" in text:
        parsed = parse_url(text)
        text = (parsed.host or "") if parsed is not None else ""
    text = text.split("/", 1)[0].split(":", 1)[0].rstrip(".")
    if not text or len(text) > 253 or not _HOST.match(text):
        raise ValidationFailed(
            f"'{raw}' is not a domain (example.com, or *.example.com for its subdomains)",
            details={"field": "domain", "value": raw},
        )
    return text


def host_allowed(host: str, domains: list[str]) -> bool:
    """Whether a page on ``host`` belongs to a site with these domains."""
    host = host.lower().rstrip(".")
    for domain in domains:
        if domain.startswith("*."):
            if host == domain[2:] or host.endswith(domain[1:]):
                return True
        elif host == domain:
            return True
    return False


def page_of(origin: str | None, referer: str | None) -> str | None:
    """The page a browser's request came from: its Origin, else its Referer."""
    page = origin or referer or ""
    return None if not page or page == "null" else page


def page_host(origin: str | None, referer: str | None) -> str | None:
    """The host of the page a browser's request came from."""
    page = page_of(origin, referer)
    return host_of(page) if page is not None else None


def host_of(page: str) -> str | None:
    """The page's host; None when it names none or does not parse (no page then)."""
    parsed = parse_url(page)
    return parsed.host if parsed is not None else None


def new_site_key() -> str:
    """A public site key, ``pk_live_`` and 20 characters, as PulseGate's look. (Sites made
    before kept their ``LL-`` keys: snippets in customers' pages carry them.)"""
    return "pk_live_" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(20))


_SITE_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


async def create_site(
    session: AsyncSession,
    *,
    workspace_slug: str,
    domains: list[str],
    name: str | None = None,
    actor: Actor | None = None,
    respect_dnt: bool = False,
    respect_gpc: bool = False,
    fingerprinting: bool = False,
    site_key: str | None = None,
) -> SiteInfo:
    """A new site in the workspace (created if missing), trackable from ``domains``; with
    ``site_key``, the key its pages already carry."""
    if not domains:
        raise ValidationFailed("a site needs at least one domain", details={"field": "domain"})
    workspace, _ = await workspaces.get_or_create(session, workspace_slug)
    managed = await add_site(
        session,
        workspace.id,
        domains=domains,
        name=name,
        site_key=site_key,
        actor=actor or Actor.cli(),
        settings={
            "respect_dnt": respect_dnt,
            "respect_gpc": respect_gpc,
            "fingerprinting": fingerprinting,
        },
    )
    return SiteInfo(managed.site, [row.domain for row in managed.domains])


@dataclass(frozen=True)
class ManagedSite:
    """A site with its domain rows, as the management routes show it."""

    site: Site
    domains: list[SiteDomain]


async def add_site(
    session: AsyncSession,
    workspace_id: str,
    *,
    domains: list[str],
    actor: Actor,
    name: str | None = None,
    site_key: str | None = None,
    settings: dict[str, bool] | None = None,
) -> ManagedSite:
    """A new site of the workspace. ``site_key`` keeps a key the site already has in its pages
    (moving from another install); without one a new key is made. A site may start with no
    domains: until it has one, every page is refused."""
    hosts = sorted({normalise_domain(domain) for domain in domains})
    if site_key is not None:
        if not _SITE_KEY.match(site_key):
            raise ValidationFailed(
                f"'{site_key}' is not a site key: 8-64 letters, digits, '_' or '-'",
                details={"field": "site_key"},
            )
        if await SiteRepository(session).key_taken(site_key):
            raise Conflict(
                f"the site key {site_key} is taken (deleted sites keep theirs)",
                details={"field": "site_key"},
            )
    unknown = sorted(set(settings or {}) - set(SITE_SETTINGS))
    if unknown:
        raise ValidationFailed(f"unknown site settings: {', '.join(unknown)}")
    key = site_key or new_site_key()
    label = (name or "").strip()[:200] or (hosts[0].removeprefix("*.") if hosts else key)
    site = Site(
        id=new_id("site"),
        workspace_id=workspace_id,
        name=label,
        site_key=key,
        created_at=utcnow(),
        **{setting: bool((settings or {}).get(setting, False)) for setting in SITE_SETTINGS},
    )
    rows = [SiteDomain(id=new_id("dom"), site_id=site.id, domain=host) for host in hosts]
    await SiteRepository(session).add(site, rows)
    # A cache may remember that no site had this key (one the site's pages already carry).
    announce(session, SITES)
    await audit.record(
        session,
        workspace_id,
        actor,
        "site.created",
        "site",
        site.id,
        {
            "name": (None, site.name),
            "domains": (None, hosts),
            "site_key": (None, site.site_key),
            **{setting: (None, getattr(site, setting)) for setting in SITE_SETTINGS},
        },
    )
    return ManagedSite(site, rows)


# The settings of a site that change how its visitors are tracked.
SITE_SETTINGS = ("respect_dnt", "respect_gpc", "fingerprinting")


async def update_site_settings(
    session: AsyncSession,
    site_key: str,
    changes: dict[str, bool],
    actor: Actor | None = None,
) -> SiteInfo:
    """Change some of a site's SITE_SETTINGS; every process's site caches forget the site once
    the transaction commits (see ``kit.changes``)."""
    found = await site_by_key(session, site_key)
    if found is None:
        raise NotFound(f"no site has the key {site_key}")
    await _change_site(session, found.site, changes, actor or Actor.cli())
    return found


async def _change_site(
    session: AsyncSession, site: Site, changes: Mapping[str, object], actor: Actor
) -> None:
    unknown = sorted(set(changes) - {"name", *SITE_SETTINGS})
    if unknown:
        raise ValidationFailed(f"unknown site settings: {', '.join(unknown)}")
    if "name" in changes:
        name = str(changes["name"]).strip()
        if not name or len(name) > 200:
            raise ValidationFailed("a site's name is 1-200 characters", details={"field": "name"})
        changes = {**changes, "name": name}
    diff = {}
    for setting, value in changes.items():
        before = getattr(site, setting)
        if before != value:
            setattr(site, setting, value)
            diff[setting] = (before, value)
    if diff:
        await session.flush()
        announce(session, SITES)
        await audit.record(session, site.workspace_id, actor, "site.updated", "site", site.id, diff)


async def site_by_key(session: AsyncSession, site_key: str) -> SiteInfo | None:
    # PostgreSQL cannot hold NUL in text, so no row has it in its key: answer as for any other.
    found = None if "\x00" in site_key else await SiteRepository(session).by_key(site_key)
    return SiteInfo(*found) if found else None


async def site_ids_of(session: AsyncSession, workspace_id: str) -> list[str]:
    """Every site the workspace has had, deleted ones too (their events and rollups stay)."""
    return await SiteRepository(session).ids_of_workspace(workspace_id)


async def list_sites(session: AsyncSession, workspace_slug: str) -> list[SiteInfo]:
    workspace = await workspaces.require(session, workspace_slug)
    return [
        SiteInfo(site, [row.domain for row in rows])
        for site, rows in await SiteRepository(session).of_workspace(workspace.id)
    ]


async def sites_of(session: AsyncSession, workspace_id: str) -> list[ManagedSite]:
    return [
        ManagedSite(*found) for found in await SiteRepository(session).of_workspace(workspace_id)
    ]


async def managed_site(session: AsyncSession, workspace_id: str, site_id: str) -> ManagedSite:
    """A site of the workspace, not deleted; NotFound otherwise (another workspace's too)."""
    repository = SiteRepository(session)
    # PostgreSQL cannot hold NUL in text, so no row has it in its id: answer as for any other.
    site = None if "\x00" in site_id else await repository.get(workspace_id, site_id)
    if site is None:
        raise NotFound(f"no site {site_id}", resource="site")
    return ManagedSite(site, await repository.domains(site.id))


async def change_site(
    session: AsyncSession,
    workspace_id: str,
    site_id: str,
    changes: Mapping[str, object],
    actor: Actor,
) -> ManagedSite:
    """Rename a site or change its SITE_SETTINGS."""
    managed = await managed_site(session, workspace_id, site_id)
    await _change_site(session, managed.site, changes, actor)
    return managed


async def delete_site(session: AsyncSession, workspace_id: str, site_id: str, actor: Actor) -> Site:
    """Delete a site: its key stops naming it (tracking, forms and capture refuse it once the
    transaction commits; see ``kit.changes``) and it leaves the lists; its visits, events,
    leads and submissions stay, and its key is never given to another site."""
    site = (await managed_site(session, workspace_id, site_id)).site
    site.deleted_at = utcnow()
    await session.flush()
    announce(session, SITES)
    await audit.record(
        session,
        workspace_id,
        actor,
        "site.deleted",
        "site",
        site.id,
        {"deleted_at": (None, site.deleted_at)},
    )
    return site


async def add_domain(
    session: AsyncSession, workspace_id: str, site_id: str, raw: str, actor: Actor
) -> SiteDomain:
    managed = await managed_site(session, workspace_id, site_id)
    host = normalise_domain(raw)
    if any(row.domain == host for row in managed.domains):
        raise Conflict(f"the site already has the domain {host}", details={"field": "domain"})
    row = SiteDomain(id=new_id("dom"), site_id=managed.site.id, domain=host)
    await SiteRepository(session).add_domain(row)
    announce(session, SITES)
    await audit.record(
        session,
        workspace_id,
        actor,
        "site.domain_added",
        "site",
        managed.site.id,
        {"domain": (None, host)},
    )
    return row


async def remove_domain(
    session: AsyncSession, workspace_id: str, site_id: str, domain_id: str, actor: Actor
) -> SiteDomain:
    managed = await managed_site(session, workspace_id, site_id)
    row = next((row for row in managed.domains if row.id == domain_id), None)
    if row is None:
        raise NotFound(f"the site has no domain {domain_id}", resource="domain")
    await SiteRepository(session).remove_domain(row)
    announce(session, SITES)
    await audit.record(
        session,
        workspace_id,
        actor,
        "site.domain_removed",
        "site",
        managed.site.id,
        {"domain": (row.domain, None)},
    )
    return row


class DomainDenied(Forbidden):
    """A request for a site's form from a page that is not on one of its domains; ``reason``
    is one of the codes of docs/api/forms.md, logged with every denial."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, details={"reason": reason})
        self.reason = reason


S = TypeVar("S", bound=SiteInfo)


async def site_for_page(session: AsyncSession, site_key: str, page_host: str | None) -> SiteInfo:
    """The site with ``site_key``, for a page on ``page_host``; raises DomainDenied, logged
    with its reason."""
    found = await site_by_key(session, site_key) if site_key and page_host else None
    return check_page(site_key, page_host, found)


def check_page(site_key: str, page_host: str | None, found: S | None) -> S:
    """``found`` (the site with ``site_key``, looked up only when there is a key and a page)
    for a page on ``page_host``; raises DomainDenied, logged with its reason."""
    try:
        if not site_key:
            raise DomainDenied("siteKey is missing", "empty_site_key")
        if not page_host:
            raise DomainDenied(
                "the request has no Origin or Referer naming the page", "missing_origin_referer"
            )
        if found is None:
            raise DomainDenied(f"unknown siteKey {site_key}", "site_not_found")
        if not host_allowed(page_host, found.domains):
            raise DomainDenied(
                f"{page_host} is not one of this site's domains", "hostname_not_in_site_domains"
            )
    except DomainDenied as denied:
        log.warning(
            "domain_validation_denied reason=%s site_key=%s host=%s",
            denied.reason,
            site_key or "-",
            page_host or "-",
        )
        raise
    return found
