"""``/privacy/erasures`` and ``/privacy/exports``: a data subject's requests to be erased and
to see what the workspace holds about them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response, StreamingResponse

from leadline.auth.roles import Permission
from leadline.http import database
from leadline.privacy import export as exports
from leadline.privacy import service as privacy
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.contacts import ErasureEnvelope, render_erasure
from leadline.surfaces.leadiosa.dependencies import Caller, EventStore, Session
from leadline.surfaces.leadiosa.envelope import data

router = APIRouter(tags=["privacy"])

ErasureId = Annotated[str, Path(max_length=64, description="The erasure's id (`era_...`).")]


Email = Annotated[str, StringConstraints(min_length=1, max_length=privacy.MAX_EMAIL_LENGTH)]
Phone = Annotated[str, StringConstraints(min_length=1, max_length=privacy.MAX_PHONE_LENGTH)]


class PersonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email | None = Field(
        default=None, description="The person's email address (compared ignoring case)."
    )
    phone: Phone | None = Field(
        default=None, description="The person's phone number, as written or in E.164."
    )


class ExportBody(PersonBody):
    format: Literal["json", "html"] = Field(
        default="json", description="`json` (one document) or `html` (a readable page)."
    )


_RUNNING: dict[int | str, dict[str, Any]] = {
    202: {
        "model": ErasureEnvelope,
        "description": "A history too large for one transaction: the erasure runs as a job "
        "(`state` `running`); follow it at `GET /privacy/erasures/{id}`.",
    }
}


@router.post(
    "/privacy/erasures",
    response_model=ErasureEnvelope,
    status_code=201,
    responses={**s.responses(404, 409, 422), **_RUNNING},
)
async def erase(
    session: Session, caller: Caller, body: PersonBody, clickhouse: EventStore
) -> Response:
    """GDPR erasure of a person by email and/or phone (at least one): every table that holds
    personal data loses or empties their rows in one transaction; tombstones and the receipt
    (this answer) stay. `contact.erased` is sent. A very large history is erased by a job
    instead, a batch per transaction: 202, `state` `running`. Admins and owners only."""
    caller.require(Permission.PRIVACY)
    receipt = await privacy.request_erasure(
        session,
        caller.workspace_id,
        caller.actor,
        emails=[body.email] if body.email else [],
        phones=[body.phone] if body.phone else [],
        clickhouse=clickhouse,
    )
    return data(render_erasure(receipt), status_code=201 if receipt.state == "done" else 202)


@router.get(
    "/privacy/erasures/{erasure_id}",
    response_model=ErasureEnvelope,
    responses=s.responses(404),
)
async def get_erasure(session: Session, caller: Caller, erasure_id: ErasureId) -> Response:
    """The receipt of an erasure: when, by whom, what was matched (masked), the rows removed
    or emptied per table, and the receipt's hash."""
    caller.require(Permission.PRIVACY)
    return data(render_erasure(await privacy.receipt(session, caller.workspace_id, erasure_id)))


_EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The export: one JSON document (`export`, then `tables`: the person's "
        "rows per table) or an HTML page, streamed.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/html": {"schema": {"type": "string"}},
        },
    },
}


@router.post(
    "/privacy/exports",
    response_class=StreamingResponse,
    responses={**s.responses(422), **_EXPORT_RESPONSES},
)
async def export(
    request: Request, session: Session, caller: Caller, body: ExportBody, clickhouse: EventStore
) -> Response:
    """Data subject access: everything the workspace holds about a person (by email and/or
    phone, at least one) from every table that holds personal data, operators' notes about
    them included, streamed as it is read. The export is recorded in the audit log (what was
    matched, masked). Admins and owners only."""
    caller.require(Permission.PRIVACY)
    started = await exports.start(
        session,
        caller.workspace_id,
        caller.actor,
        emails=[body.email] if body.email else [],
        phones=[body.phone] if body.phone else [],
        format=body.format,
    )
    db = database(request)

    async def chunks() -> AsyncIterator[bytes]:
        async with db.transaction() as reading:
            async for piece in exports.write(reading, started, clickhouse):
                yield piece.encode()

    return StreamingResponse(
        chunks(),
        media_type=exports.MEDIA_TYPES[started.format],
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{started.filename}"',
        },
    )
