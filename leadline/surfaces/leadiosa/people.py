"""``/people``: the workspace's members, and their name, role and availability."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from leadline.auth.roles import Permission
from leadline.auth.service import Principal
from leadline.http import path_id
from leadline.kit import cursors
from leadline.models import Person
from leadline.people import service as people
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.dependencies import DEFAULT_LIMIT, After, Caller, Limit, Session
from leadline.surfaces.leadiosa.envelope import data, page

router = APIRouter(tags=["people"])

PersonId = Annotated[
    str,
    Path(max_length=64, description="The person's id (`per_...`)."),
]
Role = Literal["owner", "admin", "agent"]
Availability = Literal["online", "away", "offline"]

# ----------------------------------------------------------------------------- schemas


class PersonOut(BaseModel):
    id: str
    name: str
    email: str
    role: Role
    availability: Availability = Field(
        description="online takes new conversations; away and offline do not."
    )


class PersonEnvelope(BaseModel):
    data: PersonOut


class PersonList(BaseModel):
    data: list[PersonOut]
    pagination: s.Pagination


class PersonChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    availability: Availability | None = Field(
        default=None, description="Anyone may set their own; another's takes people:manage."
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=200, description="Takes people:manage."
    )
    role: Role | None = Field(
        default=None,
        description="Takes people:manage, and every power of both the old and the new role.",
    )


# ---------------------------------------------------------------------------- rendering


def render_person(person: Person) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "email": person.email,
        "role": person.role,
        "availability": person.availability,
    }


def _position(key: dict[str, Any]) -> tuple[datetime, str]:
    return cursors.timestamp(key["created_at"]), cursors.identifier(key["id"])


def _key(person: Person) -> dict[str, Any]:
    return {"created_at": cursors.time_key(person.created_at), "id": person.id}


# ------------------------------------------------------------------------------- routes


@router.get("/people", response_model=PersonList, responses=s.responses(400))
async def list_people(
    session: Session, caller: Caller, limit: Limit = DEFAULT_LIMIT, after: After = None
) -> Response:
    """The workspace's operators (owners, admins and agents), oldest first (its first owner
    first). Marketing people, who only read analytics in the dashboard, are not listed, and
    `PATCH /people/{person_id}` does not find them."""
    found = await people.list_people(
        session, caller, limit=limit, after=cursors.resume(after, _position)
    )
    listed = cursors.page(found.people, has_more=found.has_more, key=_key)
    return page(listed, (render_person(person) for person in listed.items))


@router.get("/people/me", response_model=PersonEnvelope, responses=s.responses(404))
async def get_me(session: Session, caller: Caller) -> Response:
    """The person the token acts as; 404 `person_not_found` for an API key (it acts for the
    workspace, not for a person)."""
    caller.require(Permission.PEOPLE_READ)
    return data(render_person(await people.of_principal(session, caller)))


@router.patch(
    "/people/me", response_model=PersonEnvelope, responses=s.responses(400, 404, 409, 413)
)
async def update_me(session: Session, caller: Caller, body: PersonChanges) -> Response:
    """Change the caller's own person, as `PATCH /people/{person_id}` does; 404
    `person_not_found` for an API key."""
    caller.require(Permission.PEOPLE_READ)
    person = await people.of_principal(session, caller)
    return await _update(session, caller, person.id, body)


# A person, and not /people/me beside it.
@router.patch(
    "/people/" + path_id("person_id", besides="me"),
    response_model=PersonEnvelope,
    responses=s.responses(400, 404, 409, 413),
)
async def update_person(
    session: Session, caller: Caller, person_id: PersonId, body: PersonChanges
) -> Response:
    """Change a person's availability, name or role; fields left out stay as they are.

    Anyone may set their own availability; anything else takes people:manage. Becoming
    online sends `operator.online`; leaving online (for away or offline) sends
    `operator.offline`. 409 `last_owner` for demoting the workspace's only owner."""
    return await _update(session, caller, person_id, body)


async def _update(
    session: AsyncSession, caller: Principal, person_id: str, body: PersonChanges
) -> Response:
    person = await people.update(
        session,
        caller,
        person_id,
        name=body.name,
        role=body.role,
        availability=body.availability,
        operators_only=True,
    )
    return data(render_person(person))
