"""``/billing``: the workspace's plan, billing cycle and usage this cycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import Response

from leadline.auth.roles import Permission
from leadline.billing import service as billing
from leadline.kit.time import iso_millis
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.dependencies import AppSettings, Caller, Session
from leadline.surfaces.leadiosa.envelope import data, omit_empty

router = APIRouter(tags=["billing"])

# ----------------------------------------------------------------------------- schemas


class UsageItem(BaseModel):
    used: int = Field(ge=0, description="Used since the cycle started.")
    limit: int | SkipJsonSchema[None] = Field(
        default=None, ge=0, description="The configured limit per cycle; absent when none is."
    )


class Usage(BaseModel):
    conversations: UsageItem = Field(description="Conversations started.")
    messages: UsageItem = Field(description="Messages written in conversations.")
    ai_tokens: UsageItem = Field(description="Tokens spent by AI features.")
    leads: UsageItem = Field(description="Leads created.")
    events: UsageItem = Field(description="Tracking events stored (bots' not counted).")


class AssistantTokens(BaseModel):
    month: str = Field(examples=["2026-12"], description="The calendar month (UTC).")
    used: int = Field(ge=0, description="Tokens the AI assistant's provider reported used.")
    limit: int | SkipJsonSchema[None] = Field(
        default=None, ge=0, description="The workspace's monthly token limit; absent when none."
    )


class Subscription(BaseModel):
    plan: str = Field(examples=["self-hosted"])
    provider: str = Field(description="Who takes the payments: `none` when self-hosted.")
    billing_cycle_day: int = Field(ge=1, le=31, description="The day of the month a cycle starts.")
    cycle_start: datetime
    cycle_end: datetime = Field(description="When the next cycle starts.")
    usage: Usage
    assistant_tokens: AssistantTokens = Field(
        description="The AI assistant's tokens this month, against its monthly limit."
    )


class SubscriptionEnvelope(BaseModel):
    data: Subscription


# ---------------------------------------------------------------------------- rendering


def render_subscription(found: billing.Subscription) -> dict[str, Any]:
    return {
        "plan": found.plan,
        "provider": found.provider,
        "billing_cycle_day": found.cycle_day,
        "cycle_start": iso_millis(found.cycle.starts_at),
        "cycle_end": iso_millis(found.cycle.ends_at),
        "usage": {
            item.name: omit_empty({"used": item.used, "limit": item.limit}) for item in found.usage
        },
        "assistant_tokens": omit_empty(
            {
                "month": found.assistant_tokens.month,
                "used": found.assistant_tokens.used,
                "limit": found.assistant_tokens.limit,
            }
        ),
    }


# ------------------------------------------------------------------------------- routes


@router.get("/billing/subscription", response_model=SubscriptionEnvelope, responses=s.responses())
async def get_subscription(session: Session, caller: Caller, settings: AppSettings) -> Response:
    """The plan, the current billing cycle, and what the workspace used in it."""
    caller.require(Permission.BILLING_READ)
    found = await billing.subscription(session, caller.workspace_id, settings)
    return data(render_subscription(found))
