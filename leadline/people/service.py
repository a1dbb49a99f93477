"""People: adding members, reading them, changing their name, role and availability, removing
them, and choosing who gets the next conversation.

Operators (owners, admins, agents) work the inbox and may hold tokens. A marketing person signs
in to the dashboard to read their own list of analytics pages (``pages``), with email and phone
masked: they are never assigned a conversation, hold no token, and the Leadiosa API does not
list them.

Who may change whom: anyone with a person may set their own availability; everything else
takes ``people:manage`` (owners, admins, admin keys). Giving or taking away a role takes every
power of that role, so an admin neither makes an owner nor demotes one nor removes one; and the
last owner of a workspace stays one. Nobody removes themselves.

Availability: ``online`` takes new conversations; ``away`` and ``offline`` both mean not
available, and differ only in what the person tells their colleagues. So the webhook events
follow that line: ``operator.online`` when a person becomes online, ``operator.offline`` when
they stop being online (to away or offline); moving between away and offline sends nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from leadline import live
from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.auth import service as auth
from leadline.auth.pages import DEFAULT_MARKETING_PAGES, PAGES, parse_pages
from leadline.auth.roles import (
    OPERATOR_ROLES,
    PERSON_ROLE_PERMISSIONS,
    PERSON_ROLES,
    Permission,
    Role,
)
from leadline.auth.service import Principal, parse_role
from leadline.errors import Conflict, Forbidden, LastOwner, NotFound, ValidationFailed
from leadline.kit import cursors
from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.models import Person, Workspace
from leadline.people.repository import PersonRepository
from leadline.webhooks import service as webhooks
from leadline.workspaces import service as workspaces

AVAILABILITIES = ("online", "away", "offline")
ONLINE = "online"
# Who a member is: the audit log says these were set or changed, not what they are.
PERSONAL_FIELDS = frozenset({"email", "name"})
# The webhook events of a person's availability (registered in webhooks.EVENT_TYPES).
OPERATOR_ONLINE = "operator.online"
OPERATOR_OFFLINE = "operator.offline"


def normalise_email(value: str) -> str:
    """The address lower-cased, as people are found by it; refused when it is not one."""
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(
            f"'{value}' is not an email address: {exc}", details={"field": "email"}
        ) from None


def check_pages_for(role: Role, pages: Sequence[str] | None) -> tuple[str, ...] | None:
    """``pages`` read, for a person of ``role``: only a marketing person has a list."""
    if pages is None:
        return None
    if role is not Role.MARKETING:
        raise ValidationFailed(
            "only a marketing person has a list of pages", details={"field": "pages"}
        )
    return parse_pages(pages)


def stored_pages(pages: tuple[str, ...] | None) -> str | None:
    return None if pages is None else json.dumps(list(pages))


def own_pages(stored: str | None) -> tuple[str, ...] | None:
    """A stored list of pages (a person's or an invite's); None when there is none."""
    if stored is None:
        return None
    return tuple(str(page) for page in json.loads(stored))


def analytics_pages(person: Person) -> tuple[str, ...]:
    """The analytics pages a person opens: every one for an operator, a marketing person's
    own list (the default one without)."""
    if person.role != Role.MARKETING.value:
        return PAGES
    own = own_pages(person.pages)
    return own if own is not None else DEFAULT_MARKETING_PAGES


def is_operator(person: Person) -> bool:
    return person.role in OPERATOR_ROLES


async def add(
    session: AsyncSession,
    workspace_id: str,
    *,
    email: str,
    name: str,
    role: str,
    actor: Actor,
    pages: Sequence[str] | None = None,
) -> Person:
    """A new member; ``pages``, for a marketing person only, the analytics pages they open (the
    default ones without). The first person of a workspace is its owner, whatever ``role``
    says."""
    repo = PersonRepository(session)
    address = normalise_email(email)
    parsed = parse_role(role, PERSON_ROLES)
    display = _display_name(name)
    own = check_pages_for(parsed, pages)
    if await repo.by_email(workspace_id, address) is not None:
        raise Conflict(f"{address} is a member of this workspace already")
    if not await repo.exists_in(workspace_id):
        parsed, own = Role.OWNER, None
    now = utcnow()
    person = await repo.add(
        Person(
            id=new_id("per"),
            workspace_id=workspace_id,
            email=address,
            name=display,
            role=parsed.value,
            availability="offline",
            pages=stored_pages(own),
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
        audit.without_personal_data(
            {
                "email": (None, person.email),
                "name": (None, person.name),
                "role": (None, person.role),
            },
            PERSONAL_FIELDS,
        ),
    )
    return person


async def add_to_workspace(
    session: AsyncSession,
    workspace_slug: str,
    *,
    email: str,
    name: str,
    role: str,
    actor: Actor,
    pages: Sequence[str] | None = None,
) -> Person:
    """``add``, to the workspace ``workspace_slug`` names (NotFound when there is none)."""
    workspace = await workspaces.require(session, workspace_slug)
    return await add(
        session, workspace.id, email=email, name=name, role=role, actor=actor, pages=pages
    )


def _display_name(name: str) -> str:
    display = name.strip()
    if not display or len(display) > 200:
        raise ValidationFailed("a person's name is 1-200 characters", details={"field": "name"})
    return display


async def get(session: AsyncSession, workspace_id: str, person_id: str) -> Person:
    person = (
        None
        if "\x00" in person_id
        else await PersonRepository(session).get(workspace_id, person_id)
    )
    if person is None:
        raise NotFound(f"no person {person_id} in this workspace", resource="person")
    return person


async def operator(session: AsyncSession, workspace_id: str, person_id: str) -> Person:
    """An operator of the workspace (owner, admin or agent); NotFound for a marketing
    person as for anyone else."""
    person = await get(session, workspace_id, person_id)
    if not is_operator(person):
        raise NotFound(f"no person {person_id} in this workspace", resource="person")
    return person


async def by_email(session: AsyncSession, workspace_id: str, email: str) -> Person:
    person = await PersonRepository(session).by_email(workspace_id, normalise_email(email))
    if person is None:
        raise NotFound(f"no person with email {email} in this workspace", resource="person")
    return person


async def anyone(session: AsyncSession) -> bool:
    """Whether any workspace has a person yet (none: the instance still needs its owner)."""
    return await PersonRepository(session).anyone()


async def everywhere_by_email(session: AsyncSession, email: str) -> list[Person]:
    """Everyone with this address, in every workspace, oldest first; none when it is not an
    address. Only for signing in, which starts from an address and no workspace."""
    try:
        address = normalise_email(email)
    except ValidationFailed:
        return []
    return await PersonRepository(session).everywhere_by_email(address)


async def of_workspace(session: AsyncSession, workspace_id: str) -> list[Person]:
    return await PersonRepository(session).of_workspace(workspace_id)


async def of_principal(session: AsyncSession, principal: Principal) -> Person:
    """The person a token acts as; NotFound for an API key, which acts for no one."""
    if principal.person_id is None:
        raise NotFound(
            "this API key acts for the workspace, not for a person; use a person's token",
            resource="person",
        )
    return await get(session, principal.workspace_id, principal.person_id)


@dataclass(frozen=True)
class PersonPage:
    people: list[Person]
    has_more: bool  # more people follow the last one


async def list_people(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> PersonPage:
    """Up to ``limit`` of the workspace's operators, oldest first (its first owner first):
    marketing people are not listed."""
    principal.require(Permission.PEOPLE_READ)
    rows = await PersonRepository(session).page(
        principal.workspace_id,
        limit=limit + 1,
        after=after,
        roles=tuple(role.value for role in OPERATOR_ROLES),
    )
    found, more = cursors.cut(rows, limit)
    return PersonPage(people=found, has_more=more)


async def people_with_workspaces(
    session: AsyncSession, workspace_slug: str | None = None
) -> list[tuple[Person, Workspace]]:
    """Every person with their workspace (of one workspace, if given), by workspace."""
    workspace_id = None
    if workspace_slug is not None:
        workspace_id = (await workspaces.require(session, workspace_slug)).id
    return await PersonRepository(session).with_workspaces(workspace_id)


# ------------------------------------------------------------------------------ changing


def holds_every_power_of(principal: Principal, role: Role) -> bool:
    """Whether ``principal`` may do all that a person of ``role`` may: what it takes to make
    someone that, to change the role of someone who is, or to hold their token's secret."""
    return principal.permissions >= PERSON_ROLE_PERMISSIONS[role]


def _availability(value: str) -> str:
    if value not in AVAILABILITIES:
        raise ValidationFailed(
            f"availability must be one of {', '.join(AVAILABILITIES)}",
            details={"field": "availability"},
        )
    return value


def _fields(person: Person) -> dict[str, Any]:
    return {
        "name": person.name,
        "role": person.role,
        "availability": person.availability,
        "pages": own_pages(person.pages),
    }


async def update(
    session: AsyncSession,
    principal: Principal,
    person_id: str,
    *,
    name: str | None = None,
    role: str | None = None,
    availability: str | None = None,
    pages: Sequence[str] | None = None,
    operators_only: bool = False,
) -> Person:
    """Change a person's name, role, availability or (a marketing person's) pages; only the
    values given change. ``operators_only``: a marketing person is not found (the Leadiosa
    API, which does not list them).

    A person may set their own availability; anything else takes ``people:manage``. A role
    change reaches the person's tokens at once (a marketing person's are revoked); a change of
    availability across ``online`` sends ``operator.online`` or ``operator.offline``. Audited
    as ``person.updated``.
    """
    own = principal.person_id is not None and principal.person_id == person_id
    if name is not None or role is not None or pages is not None or not own:
        principal.require(Permission.PEOPLE_MANAGE)
    find = operator if operators_only else get
    person = await find(session, principal.workspace_id, person_id)
    before = _fields(person)
    # The role first: it locks the owners before this transaction writes anything.
    if role is not None:
        await _change_role(session, principal, person, parse_role(role, PERSON_ROLES))
    if name is not None:
        person.name = _display_name(name)
    if person.role == Role.MARKETING.value:
        # Never available: conversations go to operators only.
        person.availability = "offline"
        if pages is not None:
            person.pages = stored_pages(check_pages_for(Role.MARKETING, pages))
    else:
        person.pages = None
        check_pages_for(Role(person.role), pages)
    if availability is not None and person.role != Role.MARKETING.value:
        person.availability = _availability(availability)
    changes = audit.diff(before, _fields(person))
    if not changes:
        return person
    person.updated_at = utcnow()
    if "role" in changes:
        await auth.set_role_of_person_tokens(session, person.workspace_id, person.id, person.role)
    await audit.record(
        session,
        person.workspace_id,
        principal.actor,
        "person.updated",
        "person",
        person.id,
        audit.without_personal_data(changes, PERSONAL_FIELDS),
    )
    if (before["availability"] == ONLINE) != (person.availability == ONLINE):
        await webhooks.emit(
            session,
            person.workspace_id,
            OPERATOR_ONLINE if person.availability == ONLINE else OPERATOR_OFFLINE,
            {"person": webhook_person(person), "previous_availability": before["availability"]},
        )
        live.announce(
            session,
            live.workspace_topic(person.workspace_id),
            live.LiveEvent(
                kind="presence",
                data={
                    "person_id": person.id,
                    "name": person.name,
                    "availability": person.availability,
                    "online": person.availability == ONLINE,
                },
            ),
        )
    return person


async def _change_role(
    session: AsyncSession, principal: Principal, person: Person, role: Role
) -> None:
    current = Role(person.role)
    if role is current:
        return
    for side in (current, role):
        if not holds_every_power_of(principal, side):
            raise Forbidden(
                f"only a caller with every power of an {side.value} may make someone an "
                f"{side.value} or change the role of one",
                details={"field": "role", "role": side.value},
            )
    if current is Role.OWNER:
        owners = await PersonRepository(session).owners(person.workspace_id)
        if all(owner.id == person.id for owner in owners):
            raise LastOwner(
                f"{person.email} is the workspace's last owner; make someone else an owner first",
                details={"id": person.id},
            )
    person.role = role.value


async def remove(session: AsyncSession, principal: Principal, person_id: str) -> None:
    """Remove a person from the workspace: their password, sign-ins and tokens go with them,
    their conversations become unassigned. Takes ``people:manage`` and every power of the
    person's role; nobody removes themselves, and the last owner stays."""
    principal.require(Permission.PEOPLE_MANAGE)
    person = await get(session, principal.workspace_id, person_id)
    if person.id == principal.person_id:
        raise Forbidden("you cannot remove yourself; ask another owner or admin")
    role = Role(person.role)
    if not holds_every_power_of(principal, role):
        raise Forbidden(
            f"only a caller with every power of an {role.value} may remove one",
            details={"role": role.value},
        )
    if role is Role.OWNER:
        owners = await PersonRepository(session).owners(person.workspace_id)
        if all(owner.id == person.id for owner in owners):
            raise LastOwner(
                f"{person.email} is the workspace's last owner; make someone else an owner first",
                details={"id": person.id},
            )
    await auth.revoke_tokens_of_person(session, person.workspace_id, person.id, principal.actor)
    await PersonRepository(session).remove(person.workspace_id, person.id)
    session.expunge(person)
    await audit.record(
        session,
        principal.workspace_id,
        principal.actor,
        "person.removed",
        "person",
        person_id,
        {"role": (role.value, None)},
    )


def webhook_person(person: Person) -> dict[str, Any]:
    """A person as webhook events carry them."""
    return {
        "id": person.id,
        "name": person.name,
        "email": person.email,
        "role": person.role,
        "availability": person.availability,
    }


async def anyone_online(session: AsyncSession, workspace_id: str) -> bool:
    """Whether an operator of the workspace is online (the chat widget's offline form)."""
    roles = tuple(role.value for role in OPERATOR_ROLES)
    return await PersonRepository(session).anyone_online(workspace_id, roles)


async def next_for_assignment(session: AsyncSession, workspace_id: str) -> Person | None:
    """Round robin: the online person handed a conversation longest ago (None when nobody is
    online), marked as handed one now."""
    repo = PersonRepository(session)
    person = await repo.next_online_agent(
        workspace_id, tuple(role.value for role in OPERATOR_ROLES)
    )
    if person is not None:
        now = utcnow()
        await repo.mark_assigned(person.id, now)
        person.last_assigned_at = now
    return person
