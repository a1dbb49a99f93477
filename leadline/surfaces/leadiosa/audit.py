"""``GET /audit``: the workspace's audit log, newest first."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from leadline.audit import service as audit
from leadline.auth.roles import Permission
from leadline.errors import ValidationFailed
from leadline.kit import cursors
from leadline.kit.time import iso_millis
from leadline.models import AuditEvent
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.dependencies import (
    DEFAULT_LIMIT,
    TIME_SCHEMA,
    After,
    Caller,
    Limit,
    Session,
    plain_text,
    time_parameter,
)
from leadline.surfaces.leadiosa.envelope import omit_empty, page

router = APIRouter(tags=["audit"])


def render_event(event: AuditEvent) -> dict[str, Any]:
    changes = {
        name: omit_empty(change) for name, change in json.loads(event.changes or "{}").items()
    }
    return omit_empty(
        {
            "id": event.id,
            "seq": event.seq,
            "occurred_at": iso_millis(event.occurred_at),
            "actor": omit_empty({"type": event.actor_type, "id": event.actor_id}),
            "action": event.action,
            "target": omit_empty({"type": event.target_type, "id": event.target_id}),
            "changes": changes,
            "ip": event.ip,
            "user_agent": event.user_agent,
            "request_id": event.request_id,
            "hash": event.hash,
            "prev_hash": event.prev_hash,
        }
    )


def _target(value: str | None) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    kind, colon, ident = value.partition(":")
    if not kind or (colon and not ident):
        raise ValidationFailed(
            "target must be a type (lead) or a type and an id (lead:lead_01j9...)",
            details={"parameter": "target"},
        )
    return kind, ident or None


def _seq(key: dict[str, Any]) -> int:
    return cursors.integer(key["seq"])


@router.get("/audit", response_model=s.AuditList, responses=s.responses(400))
async def list_audit_events(
    session: Session,
    caller: Caller,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    action: Annotated[
        str | None, Query(max_length=200, description="Only this action, e.g. `job.replayed`.")
    ] = None,
    target: Annotated[
        str | None,
        Query(max_length=200, description="Only this target: a type (`lead`) or `type:id`."),
    ] = None,
    actor: Annotated[
        str | None,
        Query(max_length=200, description="Only changes made by this API key or person (id)."),
    ] = None,
    since: Annotated[
        str | None,
        Query(
            description="Events at or after this ISO-8601 time (UTC if no zone).",
            json_schema_extra=TIME_SCHEMA,
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(
            description="Events before this ISO-8601 time (UTC if no zone).",
            json_schema_extra=TIME_SCHEMA,
        ),
    ] = None,
) -> Response:
    """The workspace's audit events, newest first: who changed what, when and from where."""
    caller.require(Permission.AUDIT_READ)
    # An empty filter (``action=``) filters nothing, as an empty ``after=`` is the first page.
    target_type, target_id = _target(plain_text(target, "target") or None)
    result = await audit.list_events(
        session,
        caller.workspace_id,
        action=plain_text(action, "action") or None,
        target_type=target_type,
        target_id=target_id,
        actor_id=plain_text(actor, "actor") or None,
        since=time_parameter(since, "since"),
        until=time_parameter(until, "until"),
        after_seq=cursors.resume(after, _seq),
        limit=limit,
    )
    listed = cursors.page(result.events, has_more=result.has_more, key=lambda e: {"seq": e.seq})
    return page(listed, (render_event(event) for event in listed.items))
