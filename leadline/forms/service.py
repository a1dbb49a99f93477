"""Sites: a workspace's websites, the hosts they may track from, their public keys, and the
forms /form.js renders on them."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.db import Database
from leadline.errors import Conflict, Forbidden, NotFound, ValidationFailed
from leadline.forms.repository import FormRepository, SiteRepository
from leadline.forms.schemas import encode_definition, parse_definition
from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.models import Site, SiteDomain, SiteForm
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


def normalise_domain(raw: str) -> str:
    """A host as sites list it: lower-case, no scheme, port or path; ``*.`` for subdomains."""
    text = raw.strip().lower()
    if "://" in text:
        text = urlsplit(text).hostname or ""
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


def page_host(origin: str | None, referer: str | None) -> str | None:
    """The host of the page a browser's request came from: its Origin, else its Referer."""
    page = origin or referer or ""
    return urlsplit(page).hostname if page and page != "null" else None


def new_site_key() -> str:
    """A public site key, ``pk_live_`` and 20 characters, as PulseGate's look. (Sites made
    before kept their ``LL-`` keys: snippets in customers' pages carry them.)"""
    return "pk_live_" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(20))


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
) -> SiteInfo:
    """A new site in the workspace (created if missing), trackable from ``domains``."""
    if not domains:
        raise ValidationFailed("a site needs at least one domain", details={"field": "domain"})
    hosts = sorted({normalise_domain(domain) for domain in domains})
    workspace, _ = await workspaces.get_or_create(session, workspace_slug)
    site = Site(
        id=new_id("site"),
        workspace_id=workspace.id,
        name=(name or hosts[0].removeprefix("*.")).strip()[:200],
        site_key=new_site_key(),
        created_at=utcnow(),
        respect_dnt=respect_dnt,
        respect_gpc=respect_gpc,
        fingerprinting=fingerprinting,
    )
    rows = [SiteDomain(id=new_id("dom"), site_id=site.id, domain=host) for host in hosts]
    await SiteRepository(session).add(site, rows)
    await audit.record(
        session,
        workspace.id,
        actor or Actor.cli(),
        "site.created",
        "site",
        site.id,
        {
            "name": (None, site.name),
            "domains": (None, hosts),
            "site_key": (None, site.site_key),
            **{name: (None, getattr(site, name)) for name in SITE_SETTINGS},
        },
    )
    return SiteInfo(site, hosts)


# The settings of a site that change how its visitors are tracked.
SITE_SETTINGS = ("respect_dnt", "respect_gpc", "fingerprinting")


async def update_site_settings(
    session: AsyncSession,
    site_key: str,
    changes: dict[str, bool],
    actor: Actor | None = None,
) -> SiteInfo:
    """Change some of a site's SITE_SETTINGS; every process sees the change within the site
    cache's expiry."""
    found = await site_by_key(session, site_key)
    if found is None:
        raise NotFound(f"no site has the key {site_key}")
    unknown = sorted(set(changes) - set(SITE_SETTINGS))
    if unknown:
        raise ValidationFailed(f"unknown site settings: {', '.join(unknown)}")
    diff = {}
    for name, value in changes.items():
        before = getattr(found.site, name)
        if before != value:
            setattr(found.site, name, value)
            diff[name] = (before, value)
    if diff:
        await session.flush()
        await audit.record(
            session,
            found.site.workspace_id,
            actor or Actor.cli(),
            "site.updated",
            "site",
            found.site.id,
            diff,
        )
    return found


async def site_by_key(session: AsyncSession, site_key: str) -> SiteInfo | None:
    found = await SiteRepository(session).by_key(site_key)
    return SiteInfo(*found) if found else None


class SiteCache:
    """Sites by key, kept in memory (unknown keys too), so the tracking routes do not read the
    database on every request. An entry older than ``ttl`` seconds is still answered while one
    read of the database refreshes it in the background, so a change to a site's domains or
    settings reaches every process within ``ttl`` and a moment; requests that find no entry at
    all share one read."""

    def __init__(self, ttl: float = 10.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, SiteInfo | None]] = {}
        self._reads: dict[str, asyncio.Task[SiteInfo | None]] = {}

    async def get(self, database: Database, site_key: str) -> SiteInfo | None:
        entry = self._entries.get(site_key)
        if entry is not None:
            if entry[0] <= time.monotonic() and site_key not in self._reads:
                self._read(database, site_key)
            return entry[1]
        read = self._reads.get(site_key) or self._read(database, site_key)
        return await asyncio.shield(read)

    def _read(self, database: Database, site_key: str) -> asyncio.Task[SiteInfo | None]:
        read = asyncio.create_task(self._load(database, site_key), name=f"site {site_key}")
        self._reads[site_key] = read
        read.add_done_callback(lambda _: self._done(site_key, read))
        return read

    def _done(self, site_key: str, read: asyncio.Task[SiteInfo | None]) -> None:
        self._reads.pop(site_key, None)
        if not read.cancelled() and (error := read.exception()) is not None:
            # The old entry, if any, is answered until a later request reads again.
            log.warning("site %s could not be read: %s", site_key, error)

    async def _load(self, database: Database, site_key: str) -> SiteInfo | None:
        async with database.transaction() as session:
            found = await site_by_key(session, site_key)
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[site_key] = (time.monotonic() + self.ttl, found)
        return found


async def list_sites(session: AsyncSession, workspace_slug: str) -> list[SiteInfo]:
    workspace = await workspaces.require(session, workspace_slug)
    return [SiteInfo(*found) for found in await SiteRepository(session).of_workspace(workspace.id)]


# ------------------------------------------------------------------------------- forms

_FORM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


async def create_form(
    session: AsyncSession,
    *,
    site_key: str,
    form_id: str,
    form_json: bytes | str,
    name: str | None = None,
    actor: Actor | None = None,
) -> SiteForm:
    """A new form of the site with ``site_key``; ``form_json`` is checked first (docs/forms.md)."""
    found = await site_by_key(session, site_key)
    if found is None:
        raise NotFound(f"no site has the key {site_key}", resource="site")
    if not _FORM_ID.match(form_id):
        raise ValidationFailed(
            f"'{form_id}' is not a form id: 1-64 letters, digits, '_', '.' or '-'",
            details={"field": "form_id"},
        )
    definition = parse_definition(form_json)
    repository = FormRepository(session)
    if await repository.get(found.site.id, form_id) is not None:
        raise Conflict(f"the site already has a form {form_id}", details={"field": "form_id"})
    now = utcnow()
    form = SiteForm(
        id=new_id("form"),
        workspace_id=found.site.workspace_id,
        site_id=found.site.id,
        form_id=form_id,
        name=(name or definition.title or form_id).strip()[:200],
        form_json=encode_definition(definition),
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    await repository.add(form)
    await audit.record(
        session,
        form.workspace_id,
        actor or Actor.cli(),
        "form.created",
        "form",
        form.id,
        {"site_key": (None, site_key), "form_id": (None, form_id), "name": (None, form.name)},
    )
    return form


async def list_forms(session: AsyncSession, site_key: str) -> list[SiteForm]:
    found = await site_by_key(session, site_key)
    if found is None:
        raise NotFound(f"no site has the key {site_key}", resource="site")
    return await FormRepository(session).of_site(found.site.id)


class DomainDenied(Forbidden):
    """A request for a site's form from a page that is not on one of its domains; ``reason``
    is one of the codes of docs/api/forms.md, logged with every denial."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, details={"reason": reason})
        self.reason = reason


async def form_for_page(
    session: AsyncSession, site_key: str, form_id: str, page_host: str | None
) -> tuple[SiteInfo, SiteForm]:
    """The enabled form ``form_id`` of the site, for a page on ``page_host`` (the host of
    the request's Origin or Referer). Raises DomainDenied (logged with its reason) or
    NotFound."""
    found = await site_for_page(session, site_key, page_host)
    form = await FormRepository(session).get(found.site.id, form_id) if form_id else None
    if form is None or not form.enabled:
        raise NotFound(f"the site has no form {form_id or '(none given)'}", resource="form")
    return found, form


async def site_for_page(session: AsyncSession, site_key: str, page_host: str | None) -> SiteInfo:
    """The site with ``site_key``, for a page on ``page_host``; raises DomainDenied, logged
    with its reason."""
    try:
        if not site_key:
            raise DomainDenied("siteKey is missing", "empty_site_key")
        if not page_host:
            raise DomainDenied(
                "the request has no Origin or Referer naming the page", "missing_origin_referer"
            )
        found = await site_by_key(session, site_key)
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
