"""Marketing keys, for admins: ``/analytics/marketing-keys[/:id[/regenerate]]``.

Each marketing key carries its own list of analytics pages (the default ones when it has
none); a list shows a key's first characters only, and a key's secret is shown once, when it
is made or regenerated. The rules are in leadline.auth.service; the admin key check, the
transaction and the error shape are the management routes' (``resource``).
"""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import UNSET, Meta, Struct, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadline.auth import service as auth
from leadline.auth.pages import DEFAULT_MARKETING_PAGES
from leadline.auth.roles import Role
from leadline.auth.service import Principal
from leadline.http import decode_json, limited_body
from leadline.models import ApiKey
from leadline.surfaces.pulsegate.envelope import json_answer
from leadline.surfaces.pulsegate.management import (
    MANAGEMENT_CORS,
    Handler,
    integration_view,
    resource,
)

PageName = Annotated[str, Meta(max_length=64)]
# A list of pages, or one comma-separated string of them.
Pages = list[PageName] | Annotated[str, Meta(max_length=1000)]


class MarketingKeyCreate(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(max_length=200)] | None = None
    # None: the default pages.
    pages: Pages | None = None


class MarketingKeyPatch(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    # null: back to the default pages.
    pages: Pages | UnsetType | None = UNSET


def _page_list(pages: Pages) -> list[str]:
    return pages.split(",") if isinstance(pages, str) else list(pages)


def marketing_key_view(key: ApiKey) -> dict[str, Any]:
    """A key as lists show it (never its secret), with the pages it opens."""
    own = auth.pages_of_key(key)
    return {
        **integration_view(key),
        "pages": list(own if own is not None else DEFAULT_MARKETING_PAGES),
        "default_pages": own is None,
    }


def _answer(payload: object, status: int = 200) -> Response:
    return json_answer(payload, status, {"Cache-Control": "no-store"}, MANAGEMENT_CORS)


async def _body(request: Request, kind: type[Any], empty: object) -> Any:
    raw = await limited_body(request)
    return empty if not raw.strip() else decode_json(raw, kind)


async def list_keys(session: AsyncSession, principal: Principal, request: Request) -> Response:
    keys = await auth.keys_of(session, principal.workspace_id, Role.MARKETING)
    return _answer({"marketing_keys": [marketing_key_view(key) for key in keys]})


async def create_key(session: AsyncSession, principal: Principal, request: Request) -> Response:
    body: MarketingKeyCreate = await _body(request, MarketingKeyCreate, MarketingKeyCreate())
    issued = await auth.issue_key(
        session,
        principal.workspace,
        role=Role.MARKETING.value,
        name=body.name,
        actor=principal.actor,
        pages=None if body.pages is None else _page_list(body.pages),
    )
    # The one time the key is shown: only its digest is kept.
    view = {**marketing_key_view(issued.key), "api_key": issued.token}
    return _answer({"marketing_key": view, "api_key": issued.token}, 201)


async def get_key(session: AsyncSession, principal: Principal, request: Request) -> Response:
    key = await auth.key_of(
        session, principal.workspace_id, request.path_params["key_id"], Role.MARKETING
    )
    return _answer({"marketing_key": marketing_key_view(key)})


async def patch_key(session: AsyncSession, principal: Principal, request: Request) -> Response:
    # An empty body is refused: a change names what changes.
    body = decode_json(await limited_body(request), MarketingKeyPatch)
    pages: list[str] | UnsetType | None = (
        body.pages if body.pages is None or body.pages is UNSET else _page_list(body.pages)
    )
    key = await auth.change_key(
        session,
        principal.workspace_id,
        request.path_params["key_id"],
        Role.MARKETING,
        principal.actor,
        name=body.name,
        pages=pages,
    )
    return _answer({"marketing_key": marketing_key_view(key)})


async def delete_key(session: AsyncSession, principal: Principal, request: Request) -> Response:
    key = await auth.revoke_key_of(
        session,
        principal.workspace_id,
        request.path_params["key_id"],
        Role.MARKETING,
        principal.actor,
    )
    return _answer({"deleted": True, "id": key.id, "marketing_key": marketing_key_view(key)})


async def regenerate_key(session: AsyncSession, principal: Principal, request: Request) -> Response:
    issued = await auth.regenerate_key(
        session,
        principal.workspace,
        request.path_params["key_id"],
        Role.MARKETING,
        principal.actor,
    )
    view = {**marketing_key_view(issued.key), "api_key": issued.token}
    return _answer({"marketing_key": view, "api_key": issued.token})


_ANY = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_RESOURCES: list[tuple[str, dict[str, Handler]]] = [
    ("/analytics/marketing-keys", {"GET": list_keys, "POST": create_key}),
    (
        "/analytics/marketing-keys/{key_id}",
        {"GET": get_key, "PATCH": patch_key, "DELETE": delete_key},
    ),
    ("/analytics/marketing-keys/{key_id}/regenerate", {"POST": regenerate_key}),
]

MARKETING_KEY_ROUTES: list[Route] = [
    Route(path, resource(handlers), methods=_ANY) for path, handlers in _RESOURCES
]
