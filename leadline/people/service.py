"""People: adding members, reading them, and choosing who gets the next conversation."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.auth.roles import PERSON_ROLES, Role
from leadline.auth.service import parse_role
from leadline.errors import Conflict, NotFound, ValidationFailed
from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.models import Person
from leadline.people.repository import PersonRepository

AVAILABILITIES = ("online", "away", "offline")


def normalise_email(value: str) -> str:
    """The address lower-cased, as people are found by it; refused when it is not one."""
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(
            f"'{value}' is not an email address: {exc}", details={"field": "email"}
        ) from None


async def add(
    session: AsyncSession,
    workspace_id: str,
    *,
    email: str,
    name: str,
    role: str,
    actor: Actor,
) -> Person:
    """A new member. The first person of a workspace is its owner, whatever ``role`` says."""
    repo = PersonRepository(session)
    address = normalise_email(email)
    parsed = parse_role(role, PERSON_ROLES)
    display = name.strip()
    if not display or len(display) > 200:
        raise ValidationFailed("a person's name is 1-200 characters", details={"field": "name"})
    if await repo.by_email(workspace_id, address) is not None:
        raise Conflict(f"{address} is a member of this workspace already")
    if not await repo.exists_in(workspace_id):
        parsed = Role.OWNER
    now = utcnow()
    person = await repo.add(
        Person(
            id=new_id("per"),
            workspace_id=workspace_id,
            email=address,
            name=display,
            role=parsed.value,
            availability="offline",
            created_at=now,
            updated_at=now,
        )
    )
    await audit.record(
        session,
        workspace_id,
        actor,
        "person.added",
        "person",
        person.id,
        {"email": (None, person.email), "name": (None, person.name), "role": (None, person.role)},
    )
    return person


async def get(session: AsyncSession, workspace_id: str, person_id: str) -> Person:
    person = (
        None
        if "\x00" in person_id
        else await PersonRepository(session).get(workspace_id, person_id)
    )
    if person is None:
        raise NotFound(f"no person {person_id} in this workspace", resource="person")
    return person


async def by_email(session: AsyncSession, workspace_id: str, email: str) -> Person:
    person = await PersonRepository(session).by_email(workspace_id, normalise_email(email))
    if person is None:
        raise NotFound(f"no person with email {email} in this workspace", resource="person")
    return person


async def of_workspace(session: AsyncSession, workspace_id: str) -> list[Person]:
    return await PersonRepository(session).of_workspace(workspace_id)


async def next_for_assignment(session: AsyncSession, workspace_id: str) -> Person | None:
    """Round robin: the online person handed a conversation longest ago (None when nobody is
    online), marked as handed one now."""
    repo = PersonRepository(session)
    person = await repo.next_online_agent(workspace_id)
    if person is not None:
        now = utcnow()
        await repo.mark_assigned(person.id, now)
        person.last_assigned_at = now
    return person
