"""Who may come in: the bearer token is checked and counted before routing.

Doing both ahead of the routes means every answer to a known key carries its X-RateLimit-*
headers, a 404 for an unknown path or a 413 for a large body included, and a key over its limit
is turned away before any work is done for it.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadline.auth.service import Principal
from leadline.errors import LeadlineError, RateLimited, Unauthorized
from leadline.http import authenticated
from leadline.kit.ratelimit import RateLimiter
from leadline.surfaces.leadiosa.envelope import render_error

_LIMIT_HEADER = "x-ratelimit-limit"


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("missing Authorization header: send 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def _route_path(scope: Scope) -> str:
    """The path below the mount point (``/openapi.json`` of ``/api/v1/openapi.json``)."""
    path: str = scope["path"]
    return path.removeprefix(scope.get("root_path", ""))


class Gate:
    """Authenticates every request but those for ``public_paths`` (the API's own documents),
    counts it against its key's rate limit, and leaves the principal and the count in the
    request state for the routes and the error renderer."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, public_paths: Iterable[str]) -> None:
        self.app = app
        self.limiter = limiter
        self.public_paths = frozenset(public_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _route_path(scope) in self.public_paths:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            principal = await self._authenticate(request)
        except LeadlineError as exc:
            # Without a known key there is no counter to report on: a 401 has no X-RateLimit-*.
            await (await render_error(request, exc))(scope, receive, send)
            return
        request.state.principal = principal
        status = await self.limiter.hit(principal.key_id)
        if status is None:
            await self.app(scope, receive, send)
            return
        request.state.rate_limit = status
        if not status.allowed:
            refused = RateLimited(
                f"rate limit of {status.limit} requests per minute reached; "
                f"retry in {status.retry_after} s",
                retry_after=status.retry_after,
            )
            await (await render_error(request, refused))(scope, receive, send)
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in status.headers().items()]

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # Error answers rendered by the envelope already carry them.
                if _LIMIT_HEADER not in Headers(raw=headers):
                    message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, send_with_limits)

    async def _authenticate(self, request: Request) -> Principal:
        # A closed workspace's writes are refused by the routes (dependencies.principal), once
        # a route is found: an unknown path stays a 404, a method it does not take a 405.
        return await authenticated(request, bearer_token(request), writes=False)
