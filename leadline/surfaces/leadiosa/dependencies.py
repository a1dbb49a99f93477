"""What every Leadiosa route takes: the request's transaction, the caller, list parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.auth.service import Principal
from leadline.clickhouse.client import ClickHouse
from leadline.clickhouse.source import ClickHouseSource
from leadline.config import Settings
from leadline.errors import Unauthorized, ValidationFailed
from leadline.http import refuse_closed, request_session
from leadline.kit.time import parse_datetime

DEFAULT_LIMIT = 25
MAX_LIMIT = 100

Session = Annotated[AsyncSession, Depends(request_session, scope="function")]


async def clickhouse_of(request: Request) -> ClickHouse | None:
    """ClickHouse when it keeps the tracking events (LEADLINE_CLICKHOUSE_URL), else None."""
    source: ClickHouseSource | None = getattr(request.app.state, "clickhouse", None)
    return await source.client() if source is not None else None


EventStore = Annotated[ClickHouse | None, Depends(clickhouse_of)]

# The gate has checked the token by the time a route runs; this declares the scheme in the
# OpenAPI document.
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A workspace API key: `Authorization: Bearer <token>`.",
)


def _checked(request: Request) -> Principal:
    found = getattr(request.state, "principal", None)
    if not isinstance(found, Principal):
        raise Unauthorized("missing Authorization header: send 'Authorization: Bearer <token>'")
    return found


async def principal(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller; a write (any method but GET, HEAD, OPTIONS) to a closed workspace is
    refused here, for every route of the surface, with 409 ``workspace_closed``."""
    found = _checked(request)
    refuse_closed(request, found)
    return found


async def principal_of_closed(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, whether its workspace is closed or not: for the route that reopens it."""
    return _checked(request)


Caller = Annotated[Principal, Depends(principal)]
CallerOfClosed = Annotated[Principal, Depends(principal_of_closed)]


def app_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(app_settings)]

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1-{MAX_LIMIT}.")]
After = Annotated[
    str | None,
    Query(description="`next_cursor` of the previous page, verbatim; omit for the first page."),
]


def plain_text(value: str | None, parameter: str) -> str | None:
    """A text parameter as given; NUL characters, which no stored value holds, are refused."""
    if value is not None and "\x00" in value:
        raise ValidationFailed(
            f"{parameter} must not contain NUL characters", details={"parameter": parameter}
        )
    return value


# What a time parameter takes, for the document: a date, a date-time, or nothing (an empty
# value).
TIME_SCHEMA: dict[str, Any] = {
    "type": "string",
    "anyOf": [{"format": "date-time"}, {"format": "date"}, {"pattern": r"^\s*$"}],
}


def time_parameter(value: str | None, parameter: str) -> datetime | None:
    """An ISO-8601 date or date-time parameter (UTC if it names no zone). An empty value
    (``since=``) bounds nothing, as an empty ``after=`` is the first page."""
    if value is None or not value.strip():
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        raise ValidationFailed(
            f"{parameter} must be an ISO-8601 date or date-time, "
            "such as 2026-05-12 or 2026-05-12T07:28:25.901Z",
            details={"parameter": parameter},
        ) from None
