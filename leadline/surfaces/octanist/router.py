"""Octanist lead API routes: parse Octanist requests, call the services, render Octanist JSON."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from leadline.auth.roles import Permission
from leadline.auth.service import Principal
from leadline.errors import ValidationFailed
from leadline.http import authenticated, database, path_id, request_session
from leadline.idempotency.service import replay_or_run
from leadline.kit.context import current_request
from leadline.kit.filters import Condition, Op, parse_key
from leadline.kit.time import iso_millis
from leadline.leads import facets, listing
from leadline.leads import service as leads
from leadline.leads.repository import SortKey
from leadline.leads.writer import LeadWriter
from leadline.surfaces.octanist import schemas as s
from leadline.surfaces.octanist.envelope import json_response, number, pagination, success

Session = Annotated[AsyncSession, Depends(request_session, scope="function")]

_api_key_header = APIKeyHeader(name="X-API-KEY", auto_error=False, scheme_name="apiKey")
_bearer = HTTPBearer(auto_error=False, scheme_name="bearer")


# The key as sent: X-API-KEY, or Authorization: Bearer.
ApiKey = Annotated[str | None, Depends(_api_key_header)]
BearerKey = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def presented_key(api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    return api_key or (bearer.credentials if bearer else None)


async def principal(request: Request, api_key: ApiKey, bearer: BearerKey) -> Principal:
    # No request transaction for this: a known key is answered from memory. A write to a
    # closed workspace is refused (409 WORKSPACE_CLOSED).
    return await authenticated(request, presented_key(api_key, bearer))


async def reading_principal(request: Request, api_key: ApiKey, bearer: BearerKey) -> Principal:
    """The caller of a route that reads though it may be a POST (a report's query in a body):
    a closed workspace still answers it."""
    return await authenticated(request, presented_key(api_key, bearer), writes=False)


Caller = Annotated[Principal, Depends(principal)]
Reader = Annotated[Principal, Depends(reading_principal)]

router = APIRouter()


# ---------------------------------------------------------------------------------- rendering


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_millis(value)
    if isinstance(value, Decimal):
        return number(value)
    return value


def render_lead(record: leads.LeadRecord, fields: list[str] | None = None) -> dict[str, Any]:
    out = {s.octanist_name(name): _json_value(value) for name, value in record.items()}
    return {name: out.get(name) for name in (fields or s.LEAD_FIELDS)}


def _parse_fields(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    wanted = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = [name for name in wanted if name not in s.LEAD_FIELDS]
    if unknown:
        raise ValidationFailed(
            f"unknown field(s) in fields: {', '.join(unknown)}",
            details={"parameter": "fields", "unknown": unknown},
        )
    return wanted or None


# ------------------------------------------------------------------------------ query parsing

_RESERVED = frozenset({"limit", "page", "sort", "search", "fields"})
# Octanist names, old and new, of the columns one can sort by.
_SORT_NAMES = {
    **s.DOMAIN_NAMES,
    "updated_at": "updated_at",
    "created_at": "created_at",
    "qualified_at": "qualified_at",
}


def _parse_sort(raw: str | None) -> list[SortKey]:
    if not raw:
        return [SortKey("created_at", descending=True)]
    keys = []
    for part in raw.split(","):
        name, _, direction = part.strip().partition(":")
        direction = (direction or "asc").lower()
        if direction not in ("asc", "desc"):
            raise ValidationFailed(
                f"sort direction must be asc or desc, not '{direction}'",
                details={"parameter": "sort"},
            )
        keys.append(SortKey(_SORT_NAMES.get(name, name), descending=direction == "desc"))
    return keys


def _parse_list_query(request: Request, limit: int, page: int) -> listing.LeadQuery:
    conditions: list[Condition] = []
    for key, value in request.query_params.multi_items():
        if key in _RESERVED:
            continue
        if key == "updated_after":  # legacy alias of updatedAt[gte]
            conditions.append(Condition("updated_at", Op.GTE, value))
            continue
        name, op = parse_key(key)
        conditions.append(Condition(s.DOMAIN_NAMES.get(name, name), op, value))
    return listing.LeadQuery(
        conditions=conditions,
        sort=_parse_sort(request.query_params.get("sort")),
        search=request.query_params.get("search"),
        limit=limit,
        page=page,
    )


def _filter_parameters() -> list[dict[str, Any]]:
    """OpenAPI entries for every filter and operator the service accepts."""
    params: list[dict[str, Any]] = []
    for field_name, (kind, ops) in facets.FILTERS.items():
        name = s.octanist_name(field_name)
        for op in sorted(ops):
            if op is Op.EXISTS:
                schema: dict[str, Any] = {"type": "boolean"}
                text = f"true: leads with a {name}; false: leads without one"
            elif kind == "money":
                schema = {"type": "number"}
                text = f"{name} {op.value} this amount"
            elif kind == "date":
                schema = {"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}]}
                text = f"{name} {op.value} this time (ISO-8601; a bare date means that UTC day)"
            else:
                schema = {"type": "string"}
                text = f"{name} equals this value" + (
                    " (several values comma-separated)" if kind in ("status", "source") else ""
                )
            params.append(
                {
                    "name": name if op is Op.EQ else f"{name}[{op.value}]",
                    "in": "query",
                    "required": False,
                    "schema": schema,
                    "description": text,
                }
            )
    params.append(
        {
            "name": "updated_after",
            "in": "query",
            "required": False,
            "deprecated": True,
            "schema": {"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}]},
            "description": "Legacy alias of updatedAt[gte].",
        }
    )
    return params


# ----------------------------------------------------------------------------------- routes

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": s.ErrorEnvelope} for code in (400, 401, 403, 404, 409, 413, 431)
}


@router.get("/check", response_model=s.CheckResponse, responses=ERROR_RESPONSES, tags=["auth"])
@router.post("/check", response_model=s.CheckResponse, responses=ERROR_RESPONSES, tags=["auth"])
async def check(caller: Reader) -> Response:
    """Validate the API key. The only endpoint that answers with a bare ``{"success": true}``."""
    return json_response({"success": True})


@router.get(
    "/leads",
    response_model=s.LeadListEnvelope,
    responses=ERROR_RESPONSES,
    tags=["leads"],
    openapi_extra={"parameters": _filter_parameters()},
)
async def list_leads(
    request: Request,
    session: Session,
    caller: Caller,
    limit: Annotated[
        int, Query(description="Results per page, 1-100.")
    ] = listing.DEFAULT_PAGE_SIZE,
    page: Annotated[int, Query(description="Page number, from 1.")] = 1,
    sort: Annotated[
        str | None,
        Query(description="field:asc|desc, comma-separated; default createdAt:desc."),
    ] = None,
    search: Annotated[
        str | None,
        Query(
            description=(
                "Text in the name, email or phone (as sent or in E.164), any case; at most 200 "
                f"characters. A search counts its matches up to {listing.SEARCH_COUNT_LIMIT:,} "
                "(or one past the page asked for, if further): beyond that "
                "meta.pagination.total is a floor and meta.pagination.totalCapped is true, "
                "while hasMore stays exact."
            )
        ),
    ] = None,
    fields: Annotated[str | None, Query(description="Comma-separated fields to return.")] = None,
) -> Response:
    """List leads with filters (``field``, ``field[gte|gt|lte|lt|exists]``), sort and search."""
    caller.require(Permission.LEADS_READ)
    selected = _parse_fields(fields)
    page_ = await listing.list_leads(
        session, caller, _parse_list_query(request, limit, page), labels=s.OCTANIST_NAMES
    )
    return success(
        request,
        [render_lead(record, selected) for record in page_.records],
        pagination=pagination(page_),
    )


# A lead, and not /leads/import beside it (which takes POST alone).
@router.get(
    "/leads/" + path_id("lead_id", besides="import"),
    response_model=s.LeadEnvelope,
    responses=ERROR_RESPONSES,
    tags=["leads"],
)
async def get_lead(request: Request, session: Session, caller: Caller, lead_id: str) -> Response:
    """One lead, with every field."""
    caller.require(Permission.LEADS_READ)
    return success(request, render_lead(await leads.get_lead(session, caller, lead_id)))


@router.post(
    "/leads",
    response_model=s.CreatedLeadEnvelope,
    status_code=201,
    responses=ERROR_RESPONSES,
    tags=["leads"],
)
async def create_lead(
    request: Request,
    caller: Caller,
    body: Annotated[s.OctanistLeadCreate, Body()],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> Response:
    """Create a lead. With ``sessionId``, the tracked visit's attribution wins over the body's."""
    caller.require(Permission.LEADS_WRITE)
    if idempotency_key is None:
        # The process's lead writer stores it with the leads of other requests, and answers
        # after the commit.
        writer: LeadWriter = request.state.lead_writer
        made = await writer.create(caller, leads.NewLead(body, request=current_request()))
        return success(request, _created(made), status_code=201)

    async def run(session: AsyncSession) -> tuple[int, dict[str, Any]]:
        return 201, _created(await leads.create_lead(session, caller, body))

    ttl = timedelta(hours=request.state.settings.idempotency_ttl_hours)
    async with database(request).transaction() as session:
        status_code, data = await replay_or_run(
            session, caller, idempotency_key, request, lambda: run(session), ttl=ttl
        )
    return success(request, data, status_code=status_code)


def _created(made: leads.CreatedLead) -> dict[str, Any]:
    return {"id": made.lead.id, "message": "Lead added", "sessionLinked": made.visit_linked}


@router.patch(
    "/leads", response_model=s.UpdatedLeadEnvelope, responses=ERROR_RESPONSES, tags=["leads"]
)
async def update_lead(
    request: Request,
    session: Session,
    caller: Caller,
    body: Annotated[s.OctanistLeadUpdate, Body()],
) -> Response:
    """Update a lead found by ``id``, else ``email``, else ``phone``."""
    caller.require(Permission.LEADS_WRITE)
    if body.status is None and body.changed_to is not None:
        body.status = body.changed_to
    result = await leads.update_leads(session, caller, body)
    return success(
        request,
        {
            "leadId": result.lead_ids[0],
            "leadsUpdated": len(result.lead_ids),
            "message": "Lead updated successfully",
        },
    )
