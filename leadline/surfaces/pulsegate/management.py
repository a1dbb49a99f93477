"""PulseGate's management routes, for admin keys: sites and their domains
(``/analytics/sites[/:id[/domains[/:domainId]]]``), forms (``/analytics/forms[/:formId]``) and
integration keys (``/analytics/integrations[/:id]``). See docs/api/management.md.

The key comes as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; it must be an admin
key, and everything it reaches is its own workspace's. The rules are in leadline.sites and
leadline.auth.service; this module reads bodies and writes answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadline.audit.service import Actor
from leadline.auth import service as auth
from leadline.auth.roles import Permission, Role
from leadline.auth.service import Principal
from leadline.db import Database
from leadline.errors import (
    MethodNotAllowed,
    Unauthorized,
)
from leadline.http import authenticated, decode_json, limited_body
from leadline.kit.time import iso_millis
from leadline.models import ApiKey, SiteDomain, SiteForm
from leadline.sites import forms
from leadline.sites import service as sites
from leadline.surfaces.pulsegate import schemas as s
from leadline.surfaces.pulsegate.envelope import CORS, PREFLIGHT_MAX_AGE, endpoint, json_answer

# The management routes change and delete things too.
MANAGEMENT_CORS = {**CORS, "Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE, OPTIONS"}

T = TypeVar("T")
Handler = Callable[[AsyncSession, Principal, Request], Awaitable[Response]]


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return (request.headers.get("x-api-key") or "").strip() or None


def resource(handlers: dict[str, Handler]) -> Callable[[Request], Awaitable[Response]]:
    """One route's endpoint: the preflight, the admin key, one transaction per request (the
    answer is sent after the commit), and every error in PulseGate's shape."""
    allowed = [*handlers, "OPTIONS"]

    async def run(request: Request) -> Response:
        if request.method == "OPTIONS":
            return await preflight(request)
        handler = handlers.get(request.method)
        if handler is None:
            raise MethodNotAllowed(request.method, allowed)
        token = _token(request)
        if token is None:
            raise Unauthorized(
                "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
            )
        principal = await authenticated(request, token)
        principal.require(Permission.SITES_MANAGE)
        database: Database = request.state.db
        async with database.transaction() as session:
            return await handler(session, principal, request)

    return endpoint(run, MANAGEMENT_CORS)


def _answer(payload: object, status: int = 200) -> Response:
    return json_answer(payload, status, {"Cache-Control": "no-store"}, MANAGEMENT_CORS)


async def _body(request: Request, kind: type[T], empty: T | None = None) -> T:
    """The body decoded as ``kind``; ``empty`` stands for a body with nothing in it, where
    nothing is allowed."""
    raw = await limited_body(request)
    if empty is not None and not raw.strip():
        return empty
    return decode_json(raw, kind)


def _definition(raw: msgspec.Raw) -> bytes:
    """form_json as sent: a JSON object, or a string holding one."""
    data = bytes(raw)
    if data.lstrip()[:1] == b'"':
        return msgspec.json.decode(data, type=str).encode()
    return data


def _actor(principal: Principal) -> Actor:
    return principal.actor


def _changes(patch: msgspec.Struct) -> dict[str, Any]:
    return {
        name: value
        for name in patch.__struct_fields__
        if (value := getattr(patch, name)) is not msgspec.UNSET
    }


# ------------------------------------------------------------------------------- views


def domain_view(row: SiteDomain) -> dict[str, Any]:
    return {"id": row.id, "domain": row.domain}


def site_view(managed: sites.ManagedSite) -> dict[str, Any]:
    site = managed.site
    return {
        "id": site.id,
        "name": site.name,
        "site_key": site.site_key,
        "domains": [domain_view(row) for row in managed.domains],
        "respect_dnt": site.respect_dnt,
        "respect_gpc": site.respect_gpc,
        "fingerprinting": site.fingerprinting,
        "created_at": iso_millis(site.created_at),
    }


def form_view(form: SiteForm) -> dict[str, Any]:
    return {
        "id": form.id,
        "site_id": form.site_id,
        "form_id": form.form_id,
        "name": form.name,
        "enabled": form.enabled,
        "form_json": msgspec.Raw(form.form_json.encode()),
        "created_at": iso_millis(form.created_at),
        "updated_at": iso_millis(form.updated_at),
    }


def integration_view(key: ApiKey) -> dict[str, Any]:
    """A key as lists show it: never the key itself, only its first characters."""
    return {
        "id": key.id,
        "name": key.name,
        "api_key": f"{key.prefix}…",
        "created_at": iso_millis(key.created_at),
        "last_used_at": iso_millis(key.last_used_at) if key.last_used_at else None,
        "revoked_at": iso_millis(key.revoked_at) if key.revoked_at else None,
        "active": key.revoked_at is None,
    }


# ------------------------------------------------------------------------------- sites


async def list_sites(session: AsyncSession, principal: Principal, request: Request) -> Response:
    found = await sites.sites_of(session, principal.workspace_id)
    return _answer({"sites": [site_view(managed) for managed in found]})


async def create_site(session: AsyncSession, principal: Principal, request: Request) -> Response:
    body = await _body(request, s.SiteCreate)
    managed = await sites.add_site(
        session,
        principal.workspace_id,
        domains=body.domains,
        name=body.name,
        site_key=body.site_key,
        actor=_actor(principal),
        settings={
            "respect_dnt": body.respect_dnt,
            "respect_gpc": body.respect_gpc,
            "fingerprinting": body.fingerprinting,
        },
    )
    return _answer({"site": site_view(managed)}, 201)


async def get_site(session: AsyncSession, principal: Principal, request: Request) -> Response:
    managed = await sites.managed_site(
        session, principal.workspace_id, request.path_params["site_id"]
    )
    return _answer({"site": site_view(managed)})


async def patch_site(session: AsyncSession, principal: Principal, request: Request) -> Response:
    body = await _body(request, s.SitePatch)
    managed = await sites.change_site(
        session,
        principal.workspace_id,
        request.path_params["site_id"],
        _changes(body),
        _actor(principal),
    )
    return _answer({"site": site_view(managed)})


async def delete_site(session: AsyncSession, principal: Principal, request: Request) -> Response:
    site = await sites.delete_site(
        session, principal.workspace_id, request.path_params["site_id"], _actor(principal)
    )
    return _answer({"deleted": True, "id": site.id})


async def list_domains(session: AsyncSession, principal: Principal, request: Request) -> Response:
    managed = await sites.managed_site(
        session, principal.workspace_id, request.path_params["site_id"]
    )
    return _answer({"domains": [domain_view(row) for row in managed.domains]})


async def add_domain(session: AsyncSession, principal: Principal, request: Request) -> Response:
    body = await _body(request, s.DomainCreate)
    row = await sites.add_domain(
        session,
        principal.workspace_id,
        request.path_params["site_id"],
        body.domain,
        _actor(principal),
    )
    return _answer({"domain": domain_view(row)}, 201)


async def remove_domain(session: AsyncSession, principal: Principal, request: Request) -> Response:
    row = await sites.remove_domain(
        session,
        principal.workspace_id,
        request.path_params["site_id"],
        request.path_params["domain_id"],
        _actor(principal),
    )
    return _answer({"deleted": True, "id": row.id})


# ------------------------------------------------------------------------------- forms


async def list_forms(session: AsyncSession, principal: Principal, request: Request) -> Response:
    site_id = request.query_params.get("site_id") or None
    found = await forms.forms_of(session, principal.workspace_id, site_id)
    return _answer({"forms": [form_view(form) for form in found]})


async def create_form(session: AsyncSession, principal: Principal, request: Request) -> Response:
    body = await _body(request, s.FormCreate)
    site = await sites.managed_site(session, principal.workspace_id, body.site_id)
    form = await forms.add_form(
        session,
        site.site,
        form_id=body.form_id,
        form_json=_definition(body.form_json),
        name=body.name,
        enabled=body.enabled,
        actor=_actor(principal),
    )
    return _answer({"form": form_view(form)}, 201)


async def get_form(session: AsyncSession, principal: Principal, request: Request) -> Response:
    form = await forms.managed_form(session, principal.workspace_id, request.path_params["form_id"])
    return _answer({"form": form_view(form)})


async def patch_form(session: AsyncSession, principal: Principal, request: Request) -> Response:
    body = await _body(request, s.FormPatch)
    definition = (
        None if isinstance(body.form_json, msgspec.UnsetType) else _definition(body.form_json)
    )
    form = await forms.change_form(
        session,
        principal.workspace_id,
        request.path_params["form_id"],
        actor=_actor(principal),
        name=None if isinstance(body.name, msgspec.UnsetType) else body.name,
        form_json=definition,
        enabled=None if isinstance(body.enabled, msgspec.UnsetType) else body.enabled,
    )
    return _answer({"form": form_view(form)})


async def delete_form(session: AsyncSession, principal: Principal, request: Request) -> Response:
    form = await forms.delete_form(
        session, principal.workspace_id, request.path_params["form_id"], _actor(principal)
    )
    return _answer({"deleted": True, "id": form.id})


# ------------------------------------------------------------------------------- integrations


async def list_integrations(
    session: AsyncSession, principal: Principal, request: Request
) -> Response:
    keys = await auth.keys_of(session, principal.workspace_id, Role.INTEGRATION)
    return _answer({"integrations": [integration_view(key) for key in keys]})


async def create_integration(
    session: AsyncSession, principal: Principal, request: Request
) -> Response:
    body = await _body(request, s.IntegrationCreate, empty=s.IntegrationCreate())
    issued = await auth.issue_key(
        session,
        principal.workspace,
        role=Role.INTEGRATION.value,
        name=body.name,
        actor=_actor(principal),
    )
    # The one time the key is shown: only its digest is kept.
    view = {**integration_view(issued.key), "api_key": issued.token}
    return _answer({"integration": view, "api_key": issued.token}, 201)


async def get_integration(
    session: AsyncSession, principal: Principal, request: Request
) -> Response:
    key = await auth.key_of(
        session, principal.workspace_id, request.path_params["key_id"], Role.INTEGRATION
    )
    return _answer({"integration": integration_view(key)})


async def revoke_integration(
    session: AsyncSession, principal: Principal, request: Request
) -> Response:
    key = await auth.revoke_key_of(
        session,
        principal.workspace_id,
        request.path_params["key_id"],
        Role.INTEGRATION,
        _actor(principal),
    )
    return _answer({"deleted": True, "id": key.id, "integration": integration_view(key)})


async def preflight(request: Request) -> Response:
    return Response(
        status_code=204,
        headers={**MANAGEMENT_CORS, "Access-Control-Max-Age": PREFLIGHT_MAX_AGE},
    )


_ANY = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_RESOURCES: list[tuple[str, dict[str, Handler]]] = [
    ("/analytics/sites", {"GET": list_sites, "POST": create_site}),
    ("/analytics/sites/{site_id}", {"GET": get_site, "PATCH": patch_site, "DELETE": delete_site}),
    ("/analytics/sites/{site_id}/domains", {"GET": list_domains, "POST": add_domain}),
    ("/analytics/sites/{site_id}/domains/{domain_id}", {"DELETE": remove_domain}),
    ("/analytics/forms", {"GET": list_forms, "POST": create_form}),
    ("/analytics/forms/{form_id}", {"GET": get_form, "PATCH": patch_form, "DELETE": delete_form}),
    ("/analytics/integrations", {"GET": list_integrations, "POST": create_integration}),
    ("/analytics/integrations/{key_id}", {"GET": get_integration, "DELETE": revoke_integration}),
]

# Every method reaches the resource, which answers 405 in PulseGate's shape itself.
MANAGEMENT_ROUTES = [
    *(Route(path, resource(handlers), methods=_ANY) for path, handlers in _RESOURCES),
    # A preflight for any analytics route is answered without a key.
    Route("/analytics/{rest:path}", preflight, methods=["OPTIONS"]),
]
