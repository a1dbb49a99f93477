"""``/workspace``: the caller's workspace, its archive status, closing it and restoring it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import Response

from leadline.auth.roles import Permission
from leadline.kit.time import iso_millis
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.dependencies import AppSettings, Caller, CallerOfClosed, Session
from leadline.surfaces.leadiosa.envelope import data, omit_empty
from leadline.workspaces import service as workspaces

router = APIRouter(tags=["workspace"])

WorkspaceStatus = Literal["active", "closed"]

# ----------------------------------------------------------------------------- schemas


class Workspace(BaseModel):
    id: str
    name: str
    status: WorkspaceStatus
    created_at: datetime


class WorkspaceEnvelope(BaseModel):
    data: Workspace


class ArchiveStatus(BaseModel):
    status: WorkspaceStatus
    closed_at: datetime | SkipJsonSchema[None] = Field(
        default=None, description="When it was closed; absent while it is active."
    )
    purge_after: datetime | SkipJsonSchema[None] = Field(
        default=None,
        description="When its data is purged; it may be restored until then. Absent while "
        "it is active.",
    )
    days_left: int | SkipJsonSchema[None] = Field(
        default=None, ge=0, description="Days until `purge_after`, rounded up."
    )
    restorable: bool = Field(description="Whether `POST /workspace/restore` would reopen it.")


class ArchiveStatusEnvelope(BaseModel):
    data: ArchiveStatus


# ---------------------------------------------------------------------------- rendering


def render_status(found: workspaces.ArchiveStatus) -> dict[str, Any]:
    return omit_empty(
        {
            "status": found.status,
            "closed_at": iso_millis(found.closed_at) if found.closed_at else None,
            "purge_after": iso_millis(found.purge_after) if found.purge_after else None,
            "days_left": found.days_left,
            "restorable": found.restorable,
        }
    )


# ------------------------------------------------------------------------------- routes


@router.get("/workspace", response_model=WorkspaceEnvelope, responses=s.responses())
async def get_workspace(session: Session, caller: Caller) -> Response:
    """The workspace the token belongs to."""
    workspace = await workspaces.get(session, caller.workspace_id)
    return data(
        {
            "id": workspace.id,
            "name": workspace.name,
            "status": workspace.status,
            "created_at": iso_millis(workspace.created_at),
        }
    )


@router.get(
    "/workspace/archive-status", response_model=ArchiveStatusEnvelope, responses=s.responses()
)
async def archive_status(session: Session, caller: Caller) -> Response:
    """Whether the workspace is closed, until when its data is kept, and whether it may
    still be restored."""
    workspace = await workspaces.get(session, caller.workspace_id)
    return data(render_status(workspaces.archive_status(workspace)))


@router.post("/workspace/close", response_model=ArchiveStatusEnvelope, responses=s.responses(409))
async def close_workspace(session: Session, caller: Caller, settings: AppSettings) -> Response:
    """Close the workspace (owner only): it refuses every write from now on, keeps its data
    for reading for the retention period (`LEADLINE_WORKSPACE_RETENTION_DAYS`, 30 days by
    default), and is purged after. 409 `workspace_closed` when it is closed already."""
    caller.require(Permission.WORKSPACE_LIFECYCLE)
    closed = await workspaces.close(
        session,
        caller.workspace_id,
        retention_days=settings.workspace_retention_days,
        actor=caller.actor,
    )
    return data(render_status(closed))


# The one write a closed workspace takes: its caller is the one that may be of a closed one.
@router.post("/workspace/restore", response_model=ArchiveStatusEnvelope, responses=s.responses(409))
async def restore_workspace(session: Session, caller: CallerOfClosed) -> Response:
    """Reopen the closed workspace before its retention period ends (owner only). 409
    `workspace_not_closed` when it is not closed, `restore_period_over` after the period."""
    caller.require(Permission.WORKSPACE_LIFECYCLE)
    restored = await workspaces.restore(session, caller.workspace_id, actor=caller.actor)
    return data(render_status(restored))
