"""``/privacy/retention``: how long the workspace keeps each class of data, and the last run
that applied it (admins and owners)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import Response

from leadline.auth.roles import Permission
from leadline.kit.time import iso_millis
from leadline.models import RetentionRun
from leadline.privacy import retention
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.dependencies import AppSettings, Caller, Session
from leadline.surfaces.leadiosa.envelope import data, omit_empty

router = APIRouter(tags=["privacy"])

ROUTE = "/privacy/retention"

# ----------------------------------------------------------------------------- schemas

_DAYS = f"Days, 1-{retention.MAX_DAYS}; null: kept forever."

Days = Annotated[StrictInt | None, Field(ge=1, le=retention.MAX_DAYS, description=_DAYS)]


class RetentionPeriodsPatch(BaseModel):
    """One optional field per data class (``retention.SHOWN``): an unknown one is refused."""

    model_config = ConfigDict(extra="forbid")

    events: Days = None
    visits: Days = None
    submissions: Days = None
    leads_open: Days = None
    leads_qualified: Days = None
    leads_won: Days = None
    leads_lost: Days = None
    conversations: Days = None
    webhook_deliveries: Days = None
    jobs: Days = None
    audit: Days = None


class RetentionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    periods: RetentionPeriodsPatch = Field(
        description="The classes to change: a number of days, or null to keep the class "
        "forever. Classes not named stay as they are."
    )


class RetentionRunOut(BaseModel):
    id: str
    trigger: str = Field(description="`job` (the daily run), `cli` or `api`.")
    started_at: datetime
    finished_at: datetime | SkipJsonSchema[None] = Field(
        default=None, description="Absent while the run is unfinished."
    )
    cutoffs: dict[str, datetime] = Field(
        description="Per class, the time before which its rows were removed."
    )
    counts: dict[str, int] = Field(
        description="Per class, the rows removed (`visits_anonymised`: visits kept for a lead "
        "and anonymised)."
    )


class Retention(BaseModel):
    periods: dict[str, int | None] = Field(
        description="Per class, the period set in days (null: kept forever)."
    )
    effective_days: dict[str, int] = Field(
        description="Per class, the period a run applies: the periods set, and raw events at "
        "most the instance's `LEADLINE_EVENTS_RETENTION_DAYS` and never longer than visits."
    )
    last_run: RetentionRunOut | SkipJsonSchema[None] = Field(
        default=None, description="The latest run; absent before the first."
    )


class RetentionEnvelope(BaseModel):
    data: Retention


# ---------------------------------------------------------------------------- rendering


def render_run(run: RetentionRun) -> dict[str, Any]:
    return omit_empty(
        {
            "id": run.id,
            "trigger": run.trigger,
            "started_at": iso_millis(run.started_at),
            "finished_at": iso_millis(run.finished_at) if run.finished_at else None,
        }
    ) | {"cutoffs": json.loads(run.cutoffs), "counts": json.loads(run.counts)}


def render(periods: dict[str, int], events_default_days: int, run: RetentionRun | None) -> Any:
    return omit_empty(
        {
            "periods": {name: periods.get(name) for name in retention.SHOWN},
            "effective_days": retention.effective_days(periods, events_default_days),
            "last_run": render_run(run) if run is not None else None,
        }
    )


# ------------------------------------------------------------------------------- routes


@router.get(ROUTE, response_model=RetentionEnvelope, responses=s.responses())
async def get_retention(session: Session, caller: Caller, settings: AppSettings) -> Response:
    """The workspace's retention periods, what a run applies, and the last run with its
    counts."""
    caller.require(Permission.PRIVACY)
    periods = await retention.periods_of(session, caller.workspace_id)
    run = await retention.last_run(session, caller.workspace_id)
    return data(render(periods, settings.events_retention_days, run))


@router.patch(ROUTE, response_model=RetentionEnvelope, responses=s.responses(400, 422))
async def update_retention(
    session: Session, caller: Caller, settings: AppSettings, body: RetentionPatch
) -> Response:
    """Set the periods the body names (admins and owners). The daily run applies them;
    `leadline privacy retention` applies them at once."""
    caller.require(Permission.PRIVACY)
    changes = body.periods.model_dump(exclude_unset=True)
    periods = await retention.set_periods(session, caller.workspace_id, changes, actor=caller.actor)
    run = await retention.last_run(session, caller.workspace_id)
    return data(render(periods, settings.events_retention_days, run))
