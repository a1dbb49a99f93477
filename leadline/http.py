"""ASGI plumbing shared by every surface: request ids, body limits, the request transaction."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

import msgspec
import structlog
from sqlalchemy.exc import DataError, DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.convertors import StringConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadline.auth.cache import PrincipalCache
from leadline.auth.service import Principal
from leadline.config import Settings
from leadline.db import Database
from leadline.errors import HeadersTooLarge, PayloadTooLarge, ValidationFailed
from leadline.kit import metrics, tokens
from leadline.kit.context import RequestContext, enter_request, leave_request
from leadline.kit.ids import request_id
from leadline.kit.jsondepth import MAX_JSON_DEPTH, check_json_depth
from leadline.logs import RequestLines
from leadline.workspaces import service as workspaces

IP_MAX = 64
USER_AGENT_MAX = 512
# A request's headers, names and values together, and how many (docs/api: limits on input).
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADERS = 100


def headers_too_large(scope: Scope) -> HeadersTooLarge | None:
    """The refusal of a request whose headers pass the bounds, else None."""
    headers = scope.get("headers", [])
    if len(headers) > MAX_HEADERS:
        return HeadersTooLarge(f"the request has {len(headers)} headers; at most {MAX_HEADERS}")
    size = sum(len(name) + len(value) for name, value in headers)
    if size > MAX_HEADER_BYTES:
        return HeadersTooLarge(
            f"the request's headers are {size} bytes; at most {MAX_HEADER_BYTES} are accepted"
        )
    return None


def query_unreadable(scope: Scope) -> ValidationFailed | None:
    """The refusal of a request whose query string holds a parameter (name or value) that,
    percent-decoded, is not UTF-8 or holds a NUL (which no database stores), else None. Every
    parameter is text a route may store or search for; Starlette would read such bytes as
    replacement characters, and pass the NUL on."""
    raw: bytes = scope.get("query_string", b"")
    if not raw or (b"%" not in raw and b"\x00" not in raw and raw.isascii()):
        return None
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        named = _query_text(name)
        label = named if named and "\x00" not in named else "a query parameter's name"
        for part in (name, value):
            text = _query_text(part)
            if text is None:
                return ValidationFailed(f"{label} is not UTF-8", details={"parameter": label})
            if "\x00" in text:
                return ValidationFailed(
                    f"{label} contains a NUL character (%00), which cannot be stored",
                    details={"parameter": label},
                )
    return None


def _query_text(part: bytes) -> str | None:
    """One name or value of a query string, decoded; None when it is not UTF-8."""
    try:
        return unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return None


def unstorable(exc: BaseException) -> ValidationFailed | None:
    """What a surface answers (400) when input that got past its decoding turns out to be
    something no database keeps, else None: text that is not UTF-8 or holds a lone surrogate,
    nesting past what a decoder recurses, a number no column holds, a value the database
    refuses (a NUL in PostgreSQL). The transaction it failed in has been rolled back."""
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        # Raised while binding a value, before the database saw it: the cause is the driver's.
        exc = exc.orig or exc
    if isinstance(exc, UnicodeError):
        return ValidationFailed("the request holds text that is not valid Unicode")
    if isinstance(exc, RecursionError):
        return ValidationFailed(f"the request nests deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(exc, OverflowError):
        return ValidationFailed("the request holds a number too large to store")
    if isinstance(exc, DataError):
        return ValidationFailed("the request holds a value the database cannot store")
    return None


def route_template(scope: Scope, base: str = "") -> str:
    """The template of the route that served the request (``/api/leads/{lead_id}``), read from
    what routing left in its scope; ``<unmatched>`` when no route took it. ``base`` is the
    ``root_path`` the request arrived with (a server's ``--root-path``), left out."""
    route = scope.get("route")
    # The path without its convertors (``{lead_id}``, not ``{lead_id:besides_import}``).
    path = getattr(route, "path_format", None)
    if path is None:
        return metrics.UNMATCHED
    root: str = scope.get("root_path", "")[len(base) :]
    if isinstance(route, Mount):
        # A mount that took the request and found no route of its own inside (root_path
        # already ends with the mount's path).
        return f"{root}/{{path}}"
    return f"{root}{path}"


class RequestIdMiddleware:
    """Gives every request a ``req_<12 hex>`` id, visible to handlers and sent as X-Request-ID,
    counts it (``leadline_http_requests_total`` and its duration, by route template) and logs
    one line per request once it is answered: its id, route template, status, duration and
    the prefix of the API key that authenticated it, never its path or query (either may hold
    an email address or a key someone pasted).

    The id, the client address and its user agent are also the current request context
    (:func:`leadline.kit.context.current_request`) while the request is served, and the id is
    bound into structlog's context, so every log line written meanwhile carries it.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.lines = RequestLines(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        base: str = scope.get("root_path", "")
        # An error that escapes the app is answered 500 by the server around it.
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        token = enter_request(_context_of(scope, rid))
        bound = structlog.contextvars.bind_contextvars(request_id=rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope, base)
            metrics.requests.observe(route, scope["method"], status, seconds)
            self.lines.write(
                scope["method"],
                route,
                status,
                round(seconds * 1000, 2),
                rid,
                state.get("key_prefix"),
            )
            structlog.contextvars.reset_contextvars(**bound)
            leave_request(token)


def _context_of(scope: Scope, rid: str) -> RequestContext:
    """The request's id, client address and user agent, cut to the lengths the audit log keeps."""
    client = scope.get("client")
    user_agent = None
    for name, value in scope.get("headers", []):
        if name == b"user-agent":
            user_agent = value.decode("latin-1")[:USER_AGENT_MAX]
            break
    ip = str(client[0])[:IP_MAX] if client else None
    return RequestContext(request_id=rid, ip=ip, user_agent=user_agent)


class SurfaceMount(Mount):
    """A mount that takes every path under its prefix, line breaks included.

    Starlette's own matches the rest of the path with ``.*``, which stops at a line break, so
    ``/prefix/a%0Ab`` would miss the surface and get the root's plain-text 404 instead of the
    surface's own envelope.
    """

    def __init__(self, path: str, app: ASGIApp) -> None:
        super().__init__(path, app=app)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)


class PageCorsMiddleware:
    """CORS for the routes under ``prefix`` that a site's own pages post to: every answer
    under it, an error too, carries ``headers``, so the page may read it, and a preflight
    (``OPTIONS`` with Access-Control-Request-Method) is answered 204 here.

    Which pages may send is for the routes to decide (the site's domains); their answers carry
    no credentials and take none, so any origin may read them.
    """

    def __init__(
        self, app: ASGIApp, *, prefix: str, headers: Mapping[str, str], max_age: str
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        self.max_age = max_age.encode()

    def _applies(self, scope: Scope) -> bool:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return scope["type"] == "http" and path.startswith(self.prefix)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._applies(scope):
            await self.app(scope, receive, send)
            return
        asked = any(name == b"access-control-request-method" for name, _ in scope["headers"])
        if scope["method"] == "OPTIONS" and asked:
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [*self.headers, (b"access-control-max-age", self.max_age)],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, send_with_cors)


ErrorRenderer = Callable[[Request, Exception], Awaitable[Response]]


class BodyLimitMiddleware:
    """Refuses requests whose headers pass the bounds or whose query string cannot be stored,
    and bodies over ``max_bytes`` or that are JSON no database keeps whole, before any handler
    reads them.

    The whole body is buffered (it is small by definition) and replayed to the app, so a body
    sent without Content-Length is counted too. The refusal is rendered by the surface's own
    error renderer, so it arrives in that surface's envelope.

    ``streamed`` names routes (paths within the surface) that take larger bodies, each with
    its own limit: those are not buffered but counted as the route reads them, and reading past
    the limit raises ``PayloadTooLarge`` in the route, whose error handler renders it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        render_error: ErrorRenderer,
        json_by_default: bool = False,
        streamed: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.render_error = render_error
        # JSON APIs: a body that is JSON is read as JSON whatever Content-Type it came with.
        self.json_by_default = json_by_default
        self.streamed = dict(streamed or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = headers_too_large(scope) or query_unreadable(scope)
        if refused is not None:
            response = await self.render_error(Request(scope), refused)
            await response(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        streamed_limit = self.streamed.get(_route_path(scope))
        max_bytes = self.max_bytes if streamed_limit is None else streamed_limit
        too_large = PayloadTooLarge(
            f"request body is larger than {max_bytes} bytes", details={"maxBytes": max_bytes}
        )
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > max_bytes:
                    response = await self.render_error(Request(scope), too_large)
                    await response(scope, receive, send)
                    return
        if streamed_limit is not None:
            await self.app(scope, _counted(receive, streamed_limit, too_large), send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                response = await self.render_error(Request(scope), too_large)
                await response(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body.lstrip()[:1] in (b"{", b"["):
            try:
                check_json_text(body)
            except ValidationFailed as unreadable:
                response = await self.render_error(Request(scope), unreadable)
                await response(scope, receive, send)
                return
        if self.json_by_default:
            scope = _json_content_type(scope, body)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# The methods, in the order an Allow header names them.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """The ``Allow`` value of a 405: every method some route of the app answers at this path.

    FastAPI makes one route per method, and Starlette's router answers a 405 from the first route
    whose path matches, so its own ``Allow`` names only that route's methods (``GET`` for a path
    that also takes ``POST``). RFC 9110 asks for the resource's full set. Each method is tried
    against the whole route table, nested routers included.
    """
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    )


def path_id(name: str, *, besides: str) -> str:
    """The ``{name}`` part of a route's path for an id that shares its place with a concrete
    path, ``besides`` (``replay`` for ``/jobs/{job_id}`` beside ``/jobs/replay``): it matches
    any segment but that one.

    OpenAPI matches a concrete path before a templated one, so ``GET /jobs/replay`` is a method
    that ``/jobs/replay`` does not take (405, ``Allow: POST``), not the job ``replay``. Starlette
    matches the routes in order, the method included, so without this the templated route would
    take every method the concrete one does not.
    """
    convertor = "besides_" + re.sub(r"\W", "_", besides)
    register_url_convertor(
        convertor,
        type(convertor, (StringConvertor,), {"regex": f"(?!{re.escape(besides)}$)[^/]+"})(),
    )
    return f"{{{name}:{convertor}}}"


def _route_path(scope: Scope) -> str:
    """The request's path within the app it is mounted as (``/leads/import`` under ``/api``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _counted(receive: Receive, max_bytes: int, too_large: PayloadTooLarge) -> Receive:
    size = 0

    async def counting() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > max_bytes:
                raise too_large
        return message

    return counting


def _json_content_type(scope: Scope, body: bytes) -> Scope:
    """Label a JSON body as JSON when the client forgot to (curl -d sends a form type)."""
    current = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"")
    if b"json" in current.lower() or body.lstrip()[:1] not in (b"{", b"["):
        return scope
    headers = [(k, v) for k, v in scope.get("headers", []) if k != b"content-type"]
    # Changed in place, not copied: the route that routing records in the scope is read by
    # the request line once the request is answered (route_template).
    scope["headers"] = [*headers, (b"content-type", b"application/json")]
    return scope


def database(request: Request) -> Database:
    db: Database = request.state.db
    return db


# The methods that change nothing: a closed workspace still answers them.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def refuse_closed(request: Request, principal: Principal, *, writes: bool | None = None) -> None:
    """WorkspaceClosed (409 ``workspace_closed``) when the principal's workspace is closed and
    the request writes. A request writes unless its method is GET, HEAD or OPTIONS; ``writes``
    says otherwise for a route that only reads though it is a POST (a report's query in a
    body), and for the one that reopens the workspace."""
    if writes is None:
        writes = request.method not in READ_METHODS
    if writes:
        workspaces.refuse_writes(principal.workspace)


async def authenticated(
    request: Request, token: str | None, *, writes: bool | None = None
) -> Principal:
    """The principal of the API key ``token``, from the process's cache of them (a request
    with a known key reads no database); Unauthorized without a valid key, and
    WorkspaceClosed for a request that writes (see :func:`refuse_closed`) to a closed
    workspace. Every key's way in passes here, so a closed workspace refuses writes on every
    surface alike."""
    principals: PrincipalCache = request.state.principals
    principal = await principals.authenticate(database(request), token)
    # The request's log line names the key by what lists show of it.
    request.state.key_prefix = tokens.visible_prefix(token.strip()) if token else None
    refuse_closed(request, principal, writes=writes)
    return principal


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's transaction: committed after the handler returns, before the response.

    Use as ``Depends(request_session, scope="function")`` so a failed commit becomes an error
    response instead of a success the database never kept.
    """
    async with database(request).transaction() as session:
        yield session


# What the routes that read their own bodies (PulseGate's, the pages' incoming routes) take.
MAX_FORM_BODY = 256 * 1024


def refuse_declared_length(request: Request, max_bytes: int = MAX_FORM_BODY) -> None:
    """PayloadTooLarge when the request says (Content-Length) that its body is too long,
    before any of it is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"the body is {declared} bytes; at most {max_bytes} are accepted")


async def limited_body(request: Request, max_bytes: int = MAX_FORM_BODY) -> bytes:
    """The request's body; PayloadTooLarge past ``max_bytes``."""
    refuse_declared_length(request, max_bytes)
    body = await request.body()
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"the body is {len(body)} bytes; at most {max_bytes} are accepted")
    return body


T = TypeVar("T")

# One decoder per type, made on first use (a decoder is faster than msgspec.json.decode with
# type=, which looks the type up again on every call).
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def decode_json(body: bytes, kind: type[T]) -> T:
    """A JSON body decoded as ``kind`` (msgspec), every refusal a ValidationFailed that says
    what was wrong. NUL is refused too: PostgreSQL stores it in no text (nor in JSON)."""
    if not body.strip():
        raise ValidationFailed("send a JSON object: the body is empty")
    if b"\\u0000" in body and _escapes_nul(body):
        raise ValidationFailed(
            "the body contains a NUL character (\\u0000), which cannot be stored"
        )
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        return decoder.decode(body)  # type: ignore[no-any-return]
    except RecursionError:
        # A typed body's own shape is shallow; only free JSON inside it (msgspec.Raw) can nest
        # this deep, and the feature that keeps it checks its depth. Past the decoder's own
        # limit the body is refused here.
        raise ValidationFailed(f"the body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"invalid body: {exc}") from None
    except msgspec.DecodeError:
        raise ValidationFailed("the body is not valid JSON") from None
    except UnicodeDecodeError:
        raise ValidationFailed("the body is not UTF-8") from None


def check_json_text(body: bytes) -> Any:
    """``body`` decoded, or ValidationFailed unless it is JSON a database can keep whole,
    whatever model reads it next: UTF-8, no lone surrogate, no NUL, no number out of range or
    NaN (anywhere, keys and free JSON included), nested at most MAX_JSON_DEPTH levels."""
    check_json_depth(body)
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ValidationFailed(f"the body is not valid JSON: {exc}") from None
    except UnicodeDecodeError:
        raise ValidationFailed("the body is not UTF-8") from None
    if b"\\u0000" in body:
        refuse_nul(value)
    return value


def refuse_nul(value: Any) -> None:
    """ValidationFailed when a key or text anywhere in ``value`` (a decoded body of any kind:
    form data as well as JSON) holds a NUL, which PostgreSQL stores in no text."""
    if (where := _nul_at(value)) is not None:
        raise ValidationFailed(
            f"{where or 'the body'} contains a NUL character (\\u0000), which cannot be stored",
            details={"field": where} if where else None,
        )


def _nul_at(value: Any, path: str = "") -> str | None:
    """The dotted path (``rows.1.campaignId``) of the first key or text holding a NUL."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return where
            found = _nul_at(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_at(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def _escapes_nul(body: bytes) -> bool:
    """Whether the JSON text holds the escape for NUL, not an escaped backslash followed by
    the letters ``u0000``: the escape is real when an even number of backslashes precede it."""
    at = body.find(b"\\u0000")
    while at != -1:
        before = at
        while before > 0 and body[before - 1] == ord("\\"):
            before -= 1
        if (at - before) % 2 == 0:
            return True
        at = body.find(b"\\u0000", at + 1)
    return False


async def json_object_body(
    request: Request, expected: str = "a JSON object", max_bytes: int = MAX_FORM_BODY
) -> dict[str, Any]:
    """The body as a JSON object, whatever Content-Type it came with; ``expected`` says what
    to send instead, in the error."""
    raw = await limited_body(request, max_bytes)
    body = check_json_text(raw) if raw.strip() else None
    if not isinstance(body, dict):
        raise ValidationFailed(f"send {expected}")
    return body
