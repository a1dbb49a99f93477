"""Settings → Chat widget and Settings → AI replies: the widget's snippet, identity verification
and identity secret (as ``leadline widget secret|verification``), and the assistant's settings
(as ``GET/PATCH /api/v1/assistant``). Owners and admins only (the ``settings`` area, and the
``knowledge:manage`` permission the API asks for). Secrets are write-only or shown once: the
identity secret is in the answer to the form that asked for it (or made a new one) and nowhere
else; the provider's key is never shown back, only whether one is stored.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from leadline.accounts.service import SignedIn
from leadline.assistant import service as assistant
from leadline.auth.roles import Permission
from leadline.errors import ValidationFailed
from leadline.inbox import widget
from leadline.web import access, fields
from leadline.web.access import page
from leadline.web.rendering import render

AREA = "settings"
# The widget's attributes (docs/widget.md) as the snippet gives them.
SNIPPET_ATTRIBUTES = (
    ("data-language", "auto"),
    ("data-position", "right"),
    ("data-theme", "auto"),
    ("data-open-on-load", "false"),
    ("data-offset-bottom", "20"),
)
MODE_WORDS = {
    assistant.ANSWER_WHEN_OFFLINE: "Answer visitors when no operator is online",
    assistant.SUGGEST_DRAFTS: "Suggest drafts to online operators (nothing is sent until one"
    " of them sends it)",
}
LARGEST_FLOOR = 1_000_000
LARGEST_TOKEN_LIMIT = 2_000_000_000


def _allowed(who: SignedIn) -> None:
    access.require_area(who, AREA)
    who.principal.require(Permission.KNOWLEDGE_MANAGE)


def snippet(origin: str, workspace_slug: str) -> str:
    """The tag a site's pages carry for the chat widget."""
    attributes = " ".join(f'{name}="{value}"' for name, value in SNIPPET_ATTRIBUTES)
    return (
        f'<script async src="{origin}/widget.js" data-workspace="{workspace_slug}"\n'
        f"        {attributes}></script>"
    )


# ------------------------------------------------------------------------------ the widget


async def _widget_page(
    request: Request,
    who: SignedIn,
    *,
    secret: str = "",
    rotated: bool = False,
    announcement: str = "",
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "chat_settings/widget.html",
        {
            "snippet": snippet(fields.origin(request), who.workspace.slug),
            "verification": who.workspace.widget_identity_verification,
            "rotations": who.workspace.widget_identity_generation or 0,
            "secret": secret,
            "rotated": rotated,
            "announcement": announcement,
        },
        status_code=status_code,
    )


@page
async def widget_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The widget's snippet, whether identities are verified, and the identity secret's
    forms (the secret itself is not on this page)."""
    _allowed(who)
    done = request.query_params.get("done", "")
    return await _widget_page(
        request,
        who,
        announcement={
            "on": "Identity verification is on.",
            "off": "Identity verification is off.",
        }.get(done, ""),
    )


@page
async def set_verification(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Turn identity verification on or off (as ``leadline widget verification``)."""
    _allowed(who)
    form = await request.form()
    state = fields.text(form, "verification", 10)
    if state not in ("on", "off"):
        raise ValidationFailed("verification is on or off", details={"field": "verification"})
    await widget.set_verification(session, who.workspace.slug, state == "on", who.principal.actor)
    return RedirectResponse(f"{access.base(request)}/settings/widget?done={state}", status_code=303)


@page
async def show_secret(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The identity secret, in this answer only (as ``leadline widget secret``)."""
    _allowed(who)
    secret = await widget.secret_of(
        session, who.workspace.slug, fields.app_settings(request).secret_key
    )
    return await _widget_page(request, who, secret=secret)


@page
async def rotate_secret(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """A new identity secret, shown in this answer only; the old one stops working."""
    _allowed(who)
    secret = await widget.rotate_secret(
        session, who.workspace.slug, fields.app_settings(request).secret_key, who.principal.actor
    )
    return await _widget_page(request, who, secret=secret, rotated=True, status_code=201)


# ------------------------------------------------------------------------------ AI replies


def _number(form: FormData, name: str, *, whole: bool, largest: int) -> float | int | None:
    """A number field: None when empty."""
    text = fields.text(form, name, 40).strip()
    if not text:
        return None
    try:
        value: float | int = int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise ValidationFailed(f"{name} must be {kind}", details={"field": name}) from None
    if not math.isfinite(value) or not 0 <= value <= largest:
        raise ValidationFailed(f"{name} must be between 0 and {largest:,}", details={"field": name})
    return value


def _assistant_changes(form: FormData) -> dict[str, Any]:
    """The form as the service's changes: the key only when typed or removed."""
    changes: dict[str, Any] = {
        "enabled": fields.text(form, "enabled", 10) == "on",
        "base_url": fields.text(form, "base_url", assistant.URL_LENGTH),
        "model": fields.text(form, "model", assistant.MODEL_LENGTH),
        "business_description": fields.text(
            form, "business_description", assistant.DESCRIPTION_LENGTH
        ),
        "mode": fields.text(form, "mode", 40),
        "similarity_floor": _number(form, "similarity_floor", whole=False, largest=LARGEST_FLOOR)
        or 0.0,
        "monthly_token_limit": _number(
            form, "monthly_token_limit", whole=True, largest=LARGEST_TOKEN_LIMIT
        ),
    }
    key = fields.text(form, "api_key", assistant.KEY_LENGTH).strip()
    if key:
        changes["api_key"] = key
    elif fields.text(form, "remove_key", 10) == "on":
        changes["api_key"] = ""
    return changes


def _assistant_page(request: Request, view: assistant.View, *, announcement: str = "") -> Response:
    shown = {
        "enabled": view.enabled,
        "base_url": view.base_url,
        "model": view.model,
        "business_description": view.business_description,
        "mode": view.mode,
        "similarity_floor": view.similarity_floor,
        "monthly_token_limit": view.monthly_token_limit,
    }
    return render(
        request,
        "chat_settings/assistant.html",
        {
            "view": view,
            "values": shown,
            "modes": list(MODE_WORDS.items()),
            "announcement": announcement,
        },
    )


@page
async def assistant_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The assistant's settings (GET); changing them (POST), as ``PATCH /api/v1/assistant``."""
    _allowed(who)
    if request.method == "POST":
        form = await request.form()
        # A refused value raises: the request's transaction is rolled back (nothing changed)
        # and the error page says what was wrong.
        await assistant.update_settings(
            session, who.principal, fields.app_settings(request), _assistant_changes(form)
        )
        return RedirectResponse(
            f"{access.base(request)}/settings/assistant?done=saved", status_code=303
        )
    view = await assistant.get_settings(session, who.workspace.id)
    saved = request.query_params.get("done") == "saved"
    return _assistant_page(request, view, announcement="Saved." if saved else "")


ROUTES: list[BaseRoute] = [
    Route("/settings/widget", widget_page, methods=["GET"]),
    Route("/settings/widget/verification", set_verification, methods=["POST"]),
    Route("/settings/widget/secret", show_secret, methods=["POST"]),
    Route("/settings/widget/secret/rotate", rotate_secret, methods=["POST"]),
    Route("/settings/assistant", assistant_page, methods=["GET", "POST"]),
]
