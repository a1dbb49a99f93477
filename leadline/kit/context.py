"""Who is asking, for the request being served: its id and where it came from."""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    ip: str | None
    user_agent: str | None


_current: ContextVar[RequestContext | None] = ContextVar("leadline_request", default=None)


def current_request() -> RequestContext | None:
    """The request being served, or None outside one (the command line, a job)."""
    return _current.get()


def enter_request(context: RequestContext) -> Token[RequestContext | None]:
    """Make ``context`` the current request until :func:`leave_request` gets the token back."""
    return _current.set(context)


def leave_request(token: Token[RequestContext | None]) -> None:
    _current.reset(token)
