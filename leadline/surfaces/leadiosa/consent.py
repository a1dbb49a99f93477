"""``GET /privacy/consent``: the consent ledger of a visitor or of a lead (admins and
owners), oldest first."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import Response

from leadline.auth.roles import Permission
from leadline.errors import ValidationFailed
from leadline.kit import cursors
from leadline.kit.time import iso_millis
from leadline.leads import consent as lead_consent
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.dependencies import (
    DEFAULT_LIMIT,
    After,
    Caller,
    Limit,
    Session,
    plain_text,
)
from leadline.surfaces.leadiosa.envelope import omit_empty, page
from leadline.tracking import consent

router = APIRouter(tags=["privacy"])

FlagName = Literal["ad_storage", "ad_user_data", "ad_personalization", "analytics_storage"]

# ----------------------------------------------------------------------------- schemas


class ConsentEntry(BaseModel):
    id: str
    occurred_at: datetime
    source: str = Field(
        description="At a visit's start: gcm, tcf, gpp, manual, site, none, dnt or gpc; a "
        "change: banner, consent_mode, tcf, gpp, gpc, dnt or api."
    )
    visit_id: str | SkipJsonSchema[None] = None
    visitor_id: str | SkipJsonSchema[None] = None
    lead_id: str | SkipJsonSchema[None] = None
    stated: dict[FlagName, bool] = Field(description="The flags this entry states.")
    before: dict[FlagName, bool | None] | SkipJsonSchema[None] = Field(
        default=None,
        description="The consent before this entry (null: unknown); absent for the first "
        "entry of a visit.",
    )
    after: dict[FlagName, bool | None] = Field(description="The consent after this entry.")


class ConsentList(BaseModel):
    data: list[ConsentEntry]
    pagination: s.Pagination


# ---------------------------------------------------------------------------- rendering


def render(found: consent.LedgerEntry) -> dict[str, Any]:
    entry = found.entry
    return omit_empty(
        {
            "id": entry.id,
            "occurred_at": iso_millis(entry.occurred_at),
            "source": entry.source,
            "visit_id": entry.visit_id,
            "visitor_id": entry.visitor_id,
            "lead_id": entry.lead_id,
        }
    ) | {
        "stated": json.loads(entry.flags or "{}"),
        **({"before": found.before} if found.before is not None else {}),
        "after": found.after,
    }


def _position(key: dict[str, Any]) -> tuple[datetime, str]:
    return cursors.timestamp(key["occurred_at"]), cursors.identifier(key["id"])


def _key(found: consent.LedgerEntry) -> dict[str, Any]:
    return {"occurred_at": cursors.time_key(found.entry.occurred_at), "id": found.entry.id}


# ------------------------------------------------------------------------------- routes


@router.get("/privacy/consent", response_model=ConsentList, responses=s.responses(400, 404))
async def list_consent(
    session: Session,
    caller: Caller,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    visitor: Annotated[
        str | None, Query(max_length=64, description="A visitor's id (`visitor_id`).")
    ] = None,
    lead: Annotated[str | None, Query(max_length=64, description="A lead's id.")] = None,
) -> Response:
    """Every change of consent of a visitor (or of a lead: its visit's and its own), oldest
    first, with the state before and after each. Name exactly one of `visitor` and `lead`."""
    caller.require(Permission.PRIVACY)
    visitor_id = plain_text(visitor, "visitor") or None
    lead_id = plain_text(lead, "lead") or None
    if (visitor_id is None) == (lead_id is None):
        raise ValidationFailed(
            "name exactly one of visitor and lead", details={"parameter": "visitor"}
        )
    position = cursors.resume(after, _position)
    if lead_id is not None:
        found = await lead_consent.ledger_of_lead(
            session, caller.workspace_id, lead_id, after=position, limit=limit
        )
    else:
        found = await consent.ledger(
            session, caller.workspace_id, visitor_id=visitor_id, after=position, limit=limit
        )
    listed = cursors.page(found.entries, has_more=found.has_more, key=_key)
    return page(listed, (render(entry) for entry in listed.items))
