"""The chat widget's public endpoints, ``/widget/v1/{workspace}/...`` (docs/widget.md).

Plain Starlette routes, like the tracking routes: each checks that the page (its Origin, else
its Referer) is on a domain of one of the workspace's sites, answers CORS for that origin only,
counts the caller's IP in the tracking limiter, and renders errors in the Leadiosa envelope
``{"error": {"code", "message", "request_id"}}``. The rules are leadline.inbox.widget's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from leadline import live
from leadline.assistant import service as assistant
from leadline.config import Settings
from leadline.db import Database
from leadline.errors import LeadlineError, RateLimited, Unauthorized, ValidationFailed
from leadline.http import json_object_body, query_unreadable, unstorable
from leadline.inbox import messages as inbox_messages
from leadline.inbox import widget
from leadline.kit.ids import request_id
from leadline.live import sse
from leadline.models import Workspace
from leadline.sites import service as sites
from leadline.tracking.limits import TrackingLimiter
from leadline.workspaces import service as workspaces

log = logging.getLogger(__name__)

PREFIX = "/widget/v1"
TOKEN_HEADER = "X-Widget-Token"  # noqa: S105 (a header name)
_encoder = msgspec.json.Encoder()


class Call:
    """One widget request, past its checks: the workspace, the session, the body."""

    def __init__(
        self, request: Request, session: AsyncSession, workspace: Workspace, body: dict[str, Any]
    ) -> None:
        self.request = request
        self.session = session
        self.workspace = workspace
        self.body = body

    async def secret_key(self) -> str:
        settings: Settings = self.request.state.settings
        return await workspaces.ensure_secret_key(self.session, settings.secret_key)

    async def contact_id(self, *, required: bool) -> str | None:
        token = self.request.headers.get(TOKEN_HEADER.lower())
        if not token:
            if required:
                raise Unauthorized(f"send the widget token in {TOKEN_HEADER}")
            return None
        return widget.contact_in(await self.secret_key(), self.workspace.id, token[:200])

    def only(self, *fields: str) -> None:
        """Refuse a body with fields this route does not know (a typo would be lost)."""
        unknown = sorted(set(self.body) - set(fields))
        if unknown:
            raise ValidationFailed(
                f"unknown field {unknown[0][:64]!r}; this route takes {', '.join(fields)}",
                details={"field": unknown[0][:64]},
            )

    def text(self, field: str, *, required: bool = False) -> str | None:
        value = self.body.get(field)
        if value is None:
            if required:
                raise ValidationFailed(f"{field} is required", details={"field": field})
            return None
        if not isinstance(value, str):
            raise ValidationFailed(f"{field} must be a string", details={"field": field})
        return value


Handler = Callable[[Call], Awaitable[dict[str, Any]]]


def _cors(origin: str | None) -> dict[str, str]:
    headers = {"Vary": "Origin"}
    if origin:
        headers.update(
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                # Last-Event-ID: an EventSource connecting again says where it had read to.
                "Access-Control-Allow-Headers": f"Content-Type, {TOKEN_HEADER}, Last-Event-ID",
                "Access-Control-Max-Age": "600",
            }
        )
    return headers


def _json(body: Any, status: int, headers: dict[str, str]) -> Response:
    return Response(
        _encoder.encode(body),
        status_code=status,
        headers={**headers, "Cache-Control": "no-store"},
        media_type="application/json",
    )


def _error(exc: LeadlineError, rid: str, headers: dict[str, str]) -> Response:
    extra = dict(headers)
    if isinstance(exc, RateLimited):
        extra["Retry-After"] = str(exc.retry_after)
    body = {"error": {"code": exc.code, "message": exc.message, "request_id": rid}}
    return _json(body, exc.status_code, extra)


async def _body(request: Request) -> dict[str, Any]:
    if request.method != "POST":
        return {}
    return await json_object_body(request)


def _query(request: Request, *names: str) -> None:
    """Refuse a query that is not UTF-8, holds a NUL, or names what the route does not take."""
    if (refused := query_unreadable(request.scope)) is not None:
        raise refused
    for name in request.query_params:
        if name not in names:
            raise ValidationFailed(
                f"unknown query parameter {name[:64]!r}", details={"parameter": name[:64]}
            )


def error_answer(exc: LeadlineError) -> Response:
    """A refusal before routing (the request's headers are too large), in the envelope."""
    return _error(exc, request_id(), {"Vary": "Origin"})


async def _limit(request: Request, name: str) -> None:
    limiter: TrackingLimiter = request.app.tracking.limiter
    client = request.client
    if request.method != "OPTIONS":
        limit = await limiter.hit(f"widget/{name}", client.host if client else "")
        if limit is not None and not limit.allowed:
            raise RateLimited(
                f"too many requests to the widget; retry in {limit.retry_after} s",
                retry_after=limit.retry_after,
            )


async def _checked_page(request: Request) -> tuple[Workspace, dict[str, str]]:
    """The workspace, once the page is on one of its domains; and the CORS headers for it.
    Both come from memory (``WidgetPagesCache``), not from the database on every request."""
    origin = request.headers.get("origin")
    ref = request.path_params["workspace"]
    pages: widget.WidgetPagesCache = request.state.widget_pages
    found = await pages.get(request.state.db, ref)
    workspace = found.check(ref, sites.page_host(origin, request.headers.get("referer")))
    # Only a page of the workspace's sites may read the answer.
    if origin and origin != "null":
        return workspace, _cors(origin)
    return workspace, {"Vary": "Origin"}


def route(name: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        rid = getattr(request.state, "request_id", None) or request_id()
        allowed: dict[str, str] = {"Vary": "Origin"}
        try:
            await _limit(request, name)
            database: Database = request.state.db
            workspace, allowed = await _checked_page(request)
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=allowed)
            _query(request, *(("after",) if request.method == "GET" else ()))
            body = await _body(request)
            async with database.transaction() as session:
                answer = await handler(Call(request, session, workspace, body))
            return _json({"data": answer}, 200, allowed)
        except LeadlineError as exc:
            return _error(exc, rid, allowed)
        except Exception as exc:
            if (refusal := unstorable(exc)) is None:
                raise
            return _error(refusal, rid, allowed)

    return endpoint


# ------------------------------------------------------------------------------ the routes


async def _config(call: Call) -> dict[str, Any]:
    found = await widget.config(call.session, call.workspace)
    # Nobody online: the offline form, unless the AI agent answers in the meantime.
    offline_form = found.offline_form and not await assistant.answers_when_offline(
        call.session, call.workspace.id
    )
    return {
        "online": found.online,
        "offline_form": offline_form,
        "identity_verification": found.identity_verification,
    }


def _conversation_answer(
    call: Call, secret_key: str, contact_id: str, conversation_id: str | None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "token": widget.token_for(secret_key, call.workspace.id, contact_id),
        "contact_id": contact_id,
    }
    if conversation_id is not None:
        answer["conversation_id"] = conversation_id
    return answer


async def _start(call: Call) -> dict[str, Any]:
    call.only("text", "name", "email", "visit_id", "offline")
    offline = call.body.get("offline", False)
    if not isinstance(offline, bool):
        raise ValidationFailed("offline must be true or false", details={"field": "offline"})
    visit_id = call.text("visit_id")
    started = await widget.start(
        call.session,
        call.workspace,
        contact_id=await call.contact_id(required=False),
        text=call.text("text", required=True) or "",
        name=call.text("name"),
        email=call.text("email"),
        visit_id=visit_id or None,
        offline=offline,
    )
    answer = _conversation_answer(
        call, await call.secret_key(), started.contact_id, started.conversation.id
    )
    answer["message"] = widget.public_message(started.message)
    return answer


async def _send(call: Call) -> dict[str, Any]:
    call.only("text")
    contact_id = await call.contact_id(required=True)
    assert contact_id is not None
    message = await widget.send(
        call.session,
        call.workspace,
        contact_id,
        call.request.path_params["conversation"],
        call.text("text", required=True) or "",
    )
    return {"message": widget.public_message(message)}


async def _messages(call: Call) -> dict[str, Any]:
    contact_id = await call.contact_id(required=True)
    assert contact_id is not None
    raw = call.request.query_params.get("after")
    after: int | None = None
    if raw:
        if not raw.isdigit() or len(raw) > 18:
            raise ValidationFailed(
                "after must be the seq of a message (a whole number)", details={"field": "after"}
            )
        after = int(raw)
    found = await widget.messages(
        call.session,
        call.workspace,
        contact_id,
        call.request.path_params["conversation"],
        after=after,
    )
    return {"messages": [widget.public_message(message) for message in found]}


async def _identify(call: Call) -> dict[str, Any]:
    call.only("id", "email", "name", "attributes", "hash")
    raw_id = call.body.get("id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    if not isinstance(raw_id, str):
        raise ValidationFailed("id is required, as text", details={"field": "id"})
    secret_key = await call.secret_key()
    contact = await widget.identify(
        call.session,
        call.workspace,
        secret_key,
        contact_id=await call.contact_id(required=False),
        given=widget.Identity(
            id=raw_id,
            email=call.text("email"),
            name=call.text("name"),
            attributes=call.body.get("attributes"),
            hash=call.text("hash"),
        ),
    )
    latest = await widget.latest_conversation(call.session, call.workspace.id, contact.id)
    return _conversation_answer(
        call, secret_key, contact.id, latest.id if latest is not None else None
    )


async def _typing(call: Call) -> dict[str, Any]:
    call.only("typing")
    now_typing = call.body.get("typing", True)
    if not isinstance(now_typing, bool):
        raise ValidationFailed("typing must be true or false", details={"field": "typing"})
    contact_id = await call.contact_id(required=True)
    assert contact_id is not None
    conversation_id = call.request.path_params["conversation"]
    await widget.typing(call.session, call.workspace, contact_id, conversation_id, now_typing)
    return {"conversation_id": conversation_id, "typing": now_typing}


async def _stream(request: Request) -> Response:
    """The visitor's conversation as server-sent events (docs/live.md): the messages after
    Last-Event-ID (or ``after``) from the database, then new messages and typing as they
    happen. The token goes in ``token`` (EventSource cannot send headers) or the header."""
    rid = getattr(request.state, "request_id", None) or request_id()
    allowed: dict[str, str] = {"Vary": "Origin"}
    try:
        await _limit(request, "stream")
        settings: Settings = request.state.settings
        database: Database = request.state.db
        conversation_id = request.path_params["conversation"]
        workspace, allowed = await _checked_page(request)
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=allowed)
        _query(request, "after", "token")
        token = request.query_params.get("token") or request.headers.get(TOKEN_HEADER.lower())
        if not token:
            raise Unauthorized(f"send the widget token in {TOKEN_HEADER} or ?token=")
        async with database.transaction() as session:
            contact_id = widget.contact_in(
                await Call(request, session, workspace, {}).secret_key(), workspace.id, token[:200]
            )
            conversation = await widget.own_conversation(
                session, workspace, contact_id, conversation_id
            )
        raw = request.query_params.get("after", "")
        if raw and (not raw.isdigit() or len(raw) > 18):
            raise ValidationFailed(
                "after must be the seq of a message (a whole number)", details={"field": "after"}
            )
        start = sse.last_event_id(request.headers, request.query_params)
        if start is None:
            start = conversation.message_count
    except LeadlineError as exc:
        return _error(exc, rid, allowed)

    async def replay(after: int | None) -> list[live.LiveEvent]:
        if after is None:
            return []
        async with database.transaction() as reading:
            found = await widget.messages(
                reading, workspace, contact_id, conversation_id, after=after
            )
        return [widget.public_event(inbox_messages.message_event(message)) for message in found]

    topic = live.conversation_topic(workspace.id, conversation_id)
    return StreamingResponse(
        sse.stream(
            live.hub(),
            topic,
            start,
            replay,
            transform=widget.public_event,
            lifetime=settings.live_stream_seconds,
        ),
        media_type="text/event-stream",
        headers={**allowed, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _routes() -> list[Route]:
    both = ["POST", "OPTIONS"]
    base = PREFIX + "/{workspace}"
    conversation = base + "/conversations/{conversation}/messages"
    return [
        Route(base + "/config", route("config", _config), methods=["GET", "OPTIONS"]),
        Route(base + "/conversations", route("start", _start), methods=both),
        Route(conversation, route("poll", _messages), methods=["GET"], name="widget_messages"),
        Route(conversation, route("send", _send), methods=both),
        Route(base + "/identify", route("identify", _identify), methods=both),
        Route(base + "/conversations/{conversation}/stream", _stream, methods=["GET", "OPTIONS"]),
        Route(
            base + "/conversations/{conversation}/typing", route("typing", _typing), methods=both
        ),
    ]


WIDGET_ROUTES = _routes()
