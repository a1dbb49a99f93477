"""A site's form definitions (``form_json``, docs/forms.md): made, changed and deleted by its
admins, served to the site's own pages only."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.errors import Conflict, NotFound, ValidationFailed
from leadline.kit.changes import SITES, announce
from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.models import Site, SiteForm
from leadline.sites.repository import FormRepository
from leadline.sites.schemas import encode_definition, parse_definition
from leadline.sites.service import SiteInfo, managed_site, site_by_key, site_for_page

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
    return await add_form(
        session,
        found.site,
        form_id=form_id,
        form_json=form_json,
        name=name,
        actor=actor or Actor.cli(),
    )


async def add_form(
    session: AsyncSession,
    site: Site,
    *,
    form_id: str,
    form_json: bytes | str,
    actor: Actor,
    name: str | None = None,
    enabled: bool = True,
) -> SiteForm:
    """A new form of ``site`` (found by key for the CLI, by id for the management routes);
    ``form_json`` is checked first (docs/forms.md)."""
    if not _FORM_ID.match(form_id):
        raise ValidationFailed(
            f"'{form_id}' is not a form id: 1-64 letters, digits, '_', '.' or '-'",
            details={"field": "form_id"},
        )
    definition = parse_definition(form_json)
    repository = FormRepository(session)
    if await repository.get(site.id, form_id) is not None:
        raise Conflict(f"the site already has a form {form_id}", details={"field": "form_id"})
    now = utcnow()
    form = SiteForm(
        id=new_id("form"),
        workspace_id=site.workspace_id,
        site_id=site.id,
        form_id=form_id,
        name=_form_name(name) or (definition.title or form_id).strip()[:200],
        form_json=encode_definition(definition),
        enabled=enabled,
        created_at=now,
        updated_at=now,
    )
    await repository.add(form)
    # A cache may remember that the site had no such form.
    announce(session, SITES)
    await audit.record(
        session,
        form.workspace_id,
        actor,
        "form.created",
        "form",
        form.id,
        {
            "site_key": (None, site.site_key),
            "form_id": (None, form_id),
            "name": (None, form.name),
            "enabled": (None, enabled),
        },
    )
    return form


def _form_name(name: str | None) -> str | None:
    if name is None:
        return None
    text = name.strip()
    if len(text) > 200:
        raise ValidationFailed("a form's name is at most 200 characters", details={"field": "name"})
    return text or None


async def list_forms(session: AsyncSession, site_key: str) -> list[SiteForm]:
    found = await site_by_key(session, site_key)
    if found is None:
        raise NotFound(f"no site has the key {site_key}", resource="site")
    return await FormRepository(session).of_site(found.site.id)


async def forms_of(
    session: AsyncSession, workspace_id: str, site_id: str | None = None
) -> list[SiteForm]:
    """The workspace's forms, or one site's (NotFound when it is not the workspace's)."""
    if site_id is not None:
        await managed_site(session, workspace_id, site_id)
    return await FormRepository(session).of_workspace(workspace_id, site_id)


async def managed_form(session: AsyncSession, workspace_id: str, form_row_id: str) -> SiteForm:
    # PostgreSQL cannot hold NUL in text, so no row has it in its id: answer as for any other.
    form = (
        None
        if "\x00" in form_row_id
        else await FormRepository(session).by_id(workspace_id, form_row_id)
    )
    if form is None:
        raise NotFound(f"no form {form_row_id}", resource="form")
    return form


async def change_form(
    session: AsyncSession,
    workspace_id: str,
    form_row_id: str,
    *,
    actor: Actor,
    name: str | None = None,
    form_json: bytes | str | None = None,
    enabled: bool | None = None,
) -> SiteForm:
    """Rename a form, replace its definition (checked first) or turn it off and on."""
    form = await managed_form(session, workspace_id, form_row_id)
    diff: dict[str, tuple[object, object]] = {}
    if name is not None:
        text = _form_name(name)
        if text is None:
            raise ValidationFailed("a form's name cannot be empty", details={"field": "name"})
        if text != form.name:
            diff["name"] = (form.name, text)
            form.name = text
    if form_json is not None:
        encoded = encode_definition(parse_definition(form_json))
        if encoded != form.form_json:
            # The definition itself is in the form; the log says that it changed.
            diff["form_json"] = ("(previous)", "(replaced)")
            form.form_json = encoded
    if enabled is not None and enabled != form.enabled:
        diff["enabled"] = (form.enabled, enabled)
        form.enabled = enabled
    if diff:
        form.updated_at = utcnow()
        await session.flush()
        announce(session, SITES)
        await audit.record(session, workspace_id, actor, "form.updated", "form", form.id, diff)
    return form


async def delete_form(
    session: AsyncSession, workspace_id: str, form_row_id: str, actor: Actor
) -> SiteForm:
    """Delete a form: /forms/config and /lead.capture refuse it from then on; the submissions
    made through it keep its form id."""
    form = await managed_form(session, workspace_id, form_row_id)
    await FormRepository(session).remove(form)
    announce(session, SITES)
    await audit.record(
        session,
        workspace_id,
        actor,
        "form.deleted",
        "form",
        form.id,
        {"form_id": (form.form_id, None), "name": (form.name, None)},
    )
    return form


async def form_for_page(
    session: AsyncSession, site_key: str, form_id: str, page_host: str | None
) -> tuple[SiteInfo, SiteForm]:
    """The enabled form ``form_id`` of the site, for a page on ``page_host`` (the host of
    the request's Origin or Referer). Raises DomainDenied (logged with its reason) or
    NotFound."""
    found = await site_for_page(session, site_key, page_host)
    # PostgreSQL cannot hold NUL in text, so no row has it in its form id: answer as for any other.
    usable = form_id and "\x00" not in form_id
    form = await FormRepository(session).get(found.site.id, form_id) if usable else None
    if form is None or not form.enabled:
        raise NotFound(f"the site has no form {form_id or '(none given)'}", resource="form")
    return found, form


async def enabled_forms(session: AsyncSession, site_id: str) -> dict[str, str | None]:
    """The site's enabled forms by form id, each with its thank-you page (None without one):
    what a capture needs of them."""
    return {
        form.form_id: parse_definition(form.form_json).thank_you_url
        for form in await FormRepository(session).of_site(site_id)
        if form.enabled
    }
