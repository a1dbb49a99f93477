"""``/conversions``: ad platform destinations, a lead's preflight and uploads, and the leads
whose click is about to expire."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import Response, StreamingResponse

from leadline.auth.roles import Permission
from leadline.conversions import preflight as checks
from leadline.conversions import service as conversions
from leadline.conversions.platforms.base import PLATFORM_NAMES
from leadline.kit import cursors
from leadline.kit.time import iso_millis
from leadline.models import ConversionDestination, ConversionUpload, Lead
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.dependencies import (
    DEFAULT_LIMIT,
    After,
    AppSettings,
    Caller,
    Limit,
    Session,
)
from leadline.surfaces.leadiosa.envelope import data, omit_empty, page

router = APIRouter(tags=["conversions"])

DestinationId = Annotated[str, Path(max_length=64, description="The destination's id (`cvd_...`).")]
LeadId = Annotated[str, Path(max_length=64, description="The lead's id.")]

# How long the test of a destination's credentials may take.
TEST_TIMEOUT = 15.0

# ----------------------------------------------------------------------------- schemas

_SETTINGS = (
    "The platform's settings (account, pixel or conversion-action ids...): see docs/conversions.md."
)
_CREDENTIALS = "The platform's secrets (tokens); stored encrypted, never returned."
_STATUS_MAP = (
    "Pipeline status (qualified, won, ...) to the platform's event or conversion-action name; "
    "the platform's defaults when empty."
)


class NewDestination(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: str = Field(min_length=1, max_length=32, examples=list(PLATFORM_NAMES))
    name: str = Field(min_length=1, max_length=200)
    settings: dict[str, Any] = Field(default_factory=dict, description=_SETTINGS)
    credentials: dict[str, str] = Field(default_factory=dict, description=_CREDENTIALS)
    status_map: dict[str, str] | None = Field(default=None, description=_STATUS_MAP)
    enabled: bool = True


class DestinationChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = Field(default=None, description=_SETTINGS)
    credentials: dict[str, str] | None = Field(
        default=None, description=_CREDENTIALS + " Given, they replace the stored ones whole."
    )
    status_map: dict[str, str] | None = Field(default=None, description=_STATUS_MAP)
    enabled: bool | None = None


class DestinationOut(BaseModel):
    id: str
    platform: str
    name: str
    settings: dict[str, Any]
    status_map: dict[str, str] = Field(description="As used: the platform's defaults if none set.")
    enabled: bool
    created_at: datetime
    updated_at: datetime


class DestinationEnvelope(BaseModel):
    data: DestinationOut


class DestinationList(BaseModel):
    data: list[DestinationOut]
    pagination: s.Pagination


class Deleted(BaseModel):
    id: str
    deleted: bool


class DeletedEnvelope(BaseModel):
    data: Deleted


class Tested(BaseModel):
    id: str
    ok: bool
    message: str


class TestedEnvelope(BaseModel):
    data: Tested


class CheckOut(BaseModel):
    platform: str
    destination_id: str | SkipJsonSchema[None] = None
    destination_name: str | SkipJsonSchema[None] = None
    state: Literal["eligible", "blocked"]
    reasons: list[str] = Field(
        description=f"Every reason that applies: {', '.join(checks.REASONS)}, ..."
    )
    event_name: str | SkipJsonSchema[None] = None


class UploadOut(BaseModel):
    id: str
    destination_id: str
    status: str
    event_name: str
    dedupe_key: str
    state: Literal["pending", "sent", "skipped", "failed"]
    reasons: list[str] | SkipJsonSchema[None] = None
    error_code: str | SkipJsonSchema[None] = None
    error_message: str | SkipJsonSchema[None] = None
    attempts: int
    next_attempt_at: datetime | SkipJsonSchema[None] = None
    created_at: datetime
    sent_at: datetime | SkipJsonSchema[None] = None


class LeadConversionsOut(BaseModel):
    lead_id: str
    status: str
    preflight: list[CheckOut]
    uploads: list[UploadOut]


class LeadConversionsEnvelope(BaseModel):
    data: LeadConversionsOut


class ExpiringLead(BaseModel):
    lead_id: str
    status: str
    platform: str | SkipJsonSchema[None] = None
    clicked_at: datetime | SkipJsonSchema[None] = None
    expires_at: datetime


class ExpiringList(BaseModel):
    data: list[ExpiringLead]
    pagination: s.Pagination


# ---------------------------------------------------------------------------- rendering


def _time(value: datetime | None) -> str | None:
    return iso_millis(value) if value is not None else None


def render_destination(destination: ConversionDestination) -> dict[str, Any]:
    # The credentials are never rendered: not even which ones are set.
    return {
        "id": destination.id,
        "platform": destination.platform,
        "name": destination.name,
        "settings": conversions.settings_of(destination),
        "status_map": conversions.status_map_of(destination),
        "enabled": destination.enabled,
        "created_at": _time(destination.created_at),
        "updated_at": _time(destination.updated_at),
    }


def render_upload(upload: ConversionUpload) -> dict[str, Any]:
    return omit_empty(
        {
            "id": upload.id,
            "destination_id": upload.destination_id,
            "status": upload.status,
            "event_name": upload.event_name,
            "dedupe_key": upload.dedupe_key,
            "state": upload.state,
            "reasons": (upload.reasons or "").split(",") if upload.reasons else None,
            "error_code": upload.error_code,
            "error_message": upload.error_message,
            "attempts": upload.attempts,
            "next_attempt_at": _time(upload.next_attempt_at) if upload.state == "pending" else None,
            "created_at": _time(upload.created_at),
            "sent_at": _time(upload.sent_at),
        }
    )


def render_expiring(lead: Lead) -> dict[str, Any]:
    return omit_empty(
        {
            "lead_id": lead.id,
            "status": lead.status,
            "platform": lead.ad_platform,
            "clicked_at": _time(lead.clicked_at),
            "expires_at": _time(lead.expires_at),
        }
    )


def _position(key: dict[str, Any]) -> tuple[datetime, str]:
    return cursors.timestamp(key["created_at"]), cursors.identifier(key["id"])


def _key(row: Any) -> dict[str, Any]:
    return {"created_at": cursors.time_key(row.created_at), "id": row.id}


def _expiry_position(key: dict[str, Any]) -> tuple[datetime, str]:
    return cursors.timestamp(key["expires_at"]), cursors.identifier(key["id"])


# ------------------------------------------------------------------------------- routes

DESTINATION = "/conversions/destinations/{destination_id}"


@router.get("/conversions/destinations", response_model=DestinationList, responses=s.responses(400))
async def list_destinations(
    session: Session, caller: Caller, limit: Limit = DEFAULT_LIMIT, after: After = None
) -> Response:
    """The workspace's destinations, newest first."""
    caller.require(Permission.CONVERSIONS_MANAGE)
    found = await conversions.list_destinations(
        session, caller.workspace_id, limit=limit, after=cursors.resume(after, _position)
    )
    listed = cursors.page(found.destinations, has_more=found.has_more, key=_key)
    return page(listed, (render_destination(item) for item in listed.items))


@router.post(
    "/conversions/destinations",
    status_code=201,
    response_model=DestinationEnvelope,
    responses=s.responses(400, 413),
)
async def create_destination(
    session: Session, caller: Caller, settings: AppSettings, body: NewDestination
) -> Response:
    """A new destination; its settings and credentials are checked by the platform's rules
    (a refusal is a 400 naming the field). The credentials are never shown again."""
    caller.require(Permission.CONVERSIONS_MANAGE)
    destination = await conversions.create_destination(
        session,
        caller.workspace_id,
        caller.actor,
        settings,
        platform=body.platform,
        name=body.name,
        destination_settings=body.settings,
        credentials=body.credentials,
        status_map=body.status_map,
        enabled=body.enabled,
    )
    return data(render_destination(destination), status_code=201)


@router.get(DESTINATION, response_model=DestinationEnvelope, responses=s.responses(400, 404))
async def get_destination(
    session: Session, caller: Caller, destination_id: DestinationId
) -> Response:
    caller.require(Permission.CONVERSIONS_MANAGE)
    found = await conversions.get_destination(session, caller.workspace_id, destination_id)
    return data(render_destination(found))


@router.patch(DESTINATION, response_model=DestinationEnvelope, responses=s.responses(400, 404, 413))
async def update_destination(
    session: Session,
    caller: Caller,
    settings: AppSettings,
    destination_id: DestinationId,
    body: DestinationChanges,
) -> Response:
    """Change a destination's name, settings, credentials, status map, or pause it."""
    caller.require(Permission.CONVERSIONS_MANAGE)
    changed = await conversions.update_destination(
        session,
        caller.workspace_id,
        caller.actor,
        settings,
        destination_id,
        name=body.name,
        destination_settings=body.settings,
        credentials=body.credentials,
        status_map=body.status_map,
        enabled=body.enabled,
    )
    return data(render_destination(changed))


@router.delete(DESTINATION, response_model=DeletedEnvelope, responses=s.responses(400, 404))
async def delete_destination(
    session: Session, caller: Caller, destination_id: DestinationId
) -> Response:
    """Delete a destination and the record of its uploads."""
    caller.require(Permission.CONVERSIONS_MANAGE)
    await conversions.delete_destination(session, caller.workspace_id, caller.actor, destination_id)
    return data({"id": destination_id, "deleted": True})


@router.post(DESTINATION + "/test", response_model=TestedEnvelope, responses=s.responses(400, 404))
async def test_destination(
    session: Session, caller: Caller, settings: AppSettings, destination_id: DestinationId
) -> Response:
    """Ask the platform whether the destination's credentials work, uploading nothing; a
    refusal is a 400 naming the field at fault."""
    caller.require(Permission.CONVERSIONS_MANAGE)
    async with httpx.AsyncClient(timeout=TEST_TIMEOUT) as client:
        message = await conversions.test_destination(
            session, caller.workspace_id, caller.actor, settings, destination_id, client
        )
    return data({"id": destination_id, "ok": True, "message": message})


@router.get(
    "/leads/{lead_id}/conversions",
    response_model=LeadConversionsEnvelope,
    responses=s.responses(400, 404),
)
async def lead_conversions(session: Session, caller: Caller, lead_id: LeadId) -> Response:
    """For the lead's current status, every platform it could reach, eligible or blocked with
    every reason that applies; and the uploads made for it so far."""
    caller.require(Permission.CONVERSIONS_MANAGE)
    found = await conversions.lead_conversions(session, caller.workspace_id, lead_id)
    return data(
        {
            "lead_id": found.lead.id,
            "status": found.status,
            "preflight": [
                {**omit_empty(checks.describe(check)), "reasons": list(check.reasons)}
                for check in found.checks
            ],
            "uploads": [render_upload(upload) for upload in found.uploads],
        }
    )


@router.get("/conversions/expiring", response_model=ExpiringList, responses=s.responses(400))
async def expiring(
    session: Session, caller: Caller, limit: Limit = DEFAULT_LIMIT, after: After = None
) -> Response:
    """Open and qualified leads whose ad click expires within seven days and that no upload has
    reached yet, soonest first."""
    caller.require(Permission.CONVERSIONS_MANAGE)
    found = await conversions.expiring(
        session, caller.workspace_id, limit=limit, after=cursors.resume(after, _expiry_position)
    )
    next_cursor = None
    if found.has_more and found.last is not None and found.last.expires_at is not None:
        next_cursor = cursors.encode(
            {"expires_at": cursors.time_key(found.last.expires_at), "id": found.last.id}
        )
    listed = cursors.CursorPage(items=found.leads, next_cursor=next_cursor)
    return page(listed, (render_expiring(lead) for lead in found.leads))


_CSV_RESPONSES = s.responses(400)
_CSV_RESPONSES[200] = {
    **_CSV_RESPONSES[200],
    "description": "Google's offline-conversion file: a `Parameters:TimeZone=` row, the header "
    "row, then one row per conversion.",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


@router.get("/conversions/export", response_class=Response, responses=_CSV_RESPONSES)
async def export(
    session: Session,
    caller: Caller,
    platform: Annotated[str, Query(max_length=32, description="The platform: `google`.")],
    first: Annotated[
        str, Query(alias="from", max_length=32, description="The first day (YYYY-MM-DD).")
    ],
    last: Annotated[str, Query(alias="to", max_length=32, description="The last day, included.")],
    timezone: Annotated[
        str,
        Query(max_length=64, description="The file's time zone (IANA name); the days are its."),
    ] = "UTC",
) -> Response:
    """Google's offline-conversion CSV: one row per lead that reached qualified or won in the
    days given and carries a gclid (and the consent Google requires), named by the workspace's
    Google destination's status map or Google's defaults. Needs no destination and no
    credentials."""
    caller.require(Permission.CONVERSIONS_MANAGE)
    span = conversions.export_range(platform, first, last, timezone)
    lines = await conversions.offline_csv(session, caller.workspace_id, span)
    name = f"google-conversions-{span.first.isoformat()}-{span.last.isoformat()}.csv"
    return StreamingResponse(
        iter_lines(lines),
        media_type="text/csv; charset=utf-8",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{name}"',
        },
    )


async def iter_lines(lines: Iterator[str]) -> AsyncIterator[bytes]:
    for line in lines:
        yield line.encode()
