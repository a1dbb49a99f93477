"""People: adding members, the rules of who changes whom, the last owner, and round robin."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit.service import Actor
from leadline.auth import service as auth
from leadline.auth.roles import Role
from leadline.auth.service import Principal
from leadline.config import Settings
from leadline.db import Database
from leadline.errors import Conflict, Forbidden, LastOwner, NotFound, ValidationFailed
from leadline.people import service as people
from leadline.workspaces import service as workspaces
from tests.fixtures.factories import fetch_rows, make_key, run_in_transaction
from tests.fixtures.people import make_person, make_token
from tests.fixtures.waiting import eventually

CLI = Actor.cli()


def add(settings: Settings, email: str, role: str = "agent", name: str = "Someone") -> str:
    async def work(session: AsyncSession) -> str:
        person = await people.add_to_workspace(
            session, "acme", email=email, name=name, role=role, actor=CLI
        )
        return person.id

    return run_in_transaction(settings, work)


def principal_of(settings: Settings, token: str) -> Principal:
    return run_in_transaction(settings, lambda session: auth.authenticate(session, token))


def roles(settings: Settings) -> dict[str, str]:
    rows = fetch_rows(settings, "SELECT email, role FROM people")
    return {row["email"]: row["role"] for row in rows}


def test_the_first_person_is_the_owner(settings: Settings) -> None:
    make_key(settings, "acme", "admin")  # the workspace
    add(settings, "  Ada@Example.COM ", role="agent", name="  Ada ")
    add(settings, "bob@example.com", role="admin")
    add(settings, "cy@example.com", role="agent")
    assert roles(settings) == {
        "ada@example.com": "owner",
        "bob@example.com": "admin",
        "cy@example.com": "agent",
    }
    (ada,) = fetch_rows(settings, "SELECT * FROM people WHERE email = 'ada@example.com'")
    assert (ada["name"], ada["availability"], ada["id"][:4]) == ("Ada", "offline", "per_")
    added = fetch_rows(
        settings, "SELECT actor_type, changes FROM audit_events WHERE action = 'person.added'"
    )
    assert [row["actor_type"] for row in added] == ["cli"] * 3
    assert json.loads(added[0]["changes"]) == {
        "email": {"before": None, "after": "[personal data]"},
        "name": {"before": None, "after": "[personal data]"},
        "role": {"before": None, "after": "owner"},
    }


@pytest.mark.parametrize(
    ("email", "role", "name", "error", "message"),
    [
        ("ada@example.com", "admn", "Ada", ValidationFailed, "unknown role 'admn'"),
        ("ada@example.com", "integration", "Ada", ValidationFailed, "agent, marketing"),
        ("not an address", "agent", "Ada", ValidationFailed, "is not an email address"),
        ("ada@example.com", "agent", "   ", ValidationFailed, "1-200 characters"),
        ("ada@example.com", "agent", "x" * 201, ValidationFailed, "1-200 characters"),
        ("FIRST@example.com", "agent", "Ada", Conflict, "a member of this workspace already"),
    ],
)
def test_bad_people_are_refused(
    settings: Settings,
    email: str,
    role: str,
    name: str,
    error: type[Exception],
    message: str,
) -> None:
    make_key(settings, "acme", "admin")
    add(settings, "first@example.com")
    with pytest.raises(error, match=message):
        add(settings, email, role=role, name=name)
    assert roles(settings) == {"first@example.com": "owner"}


def test_a_person_joins_only_a_workspace_that_exists(settings: Settings) -> None:
    with pytest.raises(NotFound, match="no workspace 'acme'"):
        add(settings, "ada@example.com")
    assert fetch_rows(settings, "SELECT id FROM workspaces") == []


@pytest.mark.parametrize(
    ("caller", "role", "holds"),
    [
        ("owner", Role.OWNER, True),
        ("admin key", Role.OWNER, True),
        ("admin", Role.OWNER, False),
        ("admin", Role.ADMIN, True),
        ("agent", Role.ADMIN, False),
        ("agent", Role.AGENT, True),
        ("marketing key", Role.AGENT, False),
    ],
)
def test_who_holds_every_power_of_a_role(
    settings: Settings, caller: str, role: Role, holds: bool
) -> None:
    make_person(settings, "acme", "owner@example.com")
    if caller.endswith(" key"):
        token = make_key(settings, "acme", caller.removesuffix(" key"))
    else:
        if caller != "owner":
            make_person(settings, "acme", f"{caller}@example.com", role=caller)
        token = make_token(settings, "acme", f"{caller}@example.com")
    assert people.holds_every_power_of(principal_of(settings, token), role) is holds


def test_a_role_change_reaches_the_persons_tokens(settings: Settings) -> None:
    make_person(settings, "acme", "owner@example.com")
    agent_id = make_person(settings, "acme", "agent@example.com", role="agent")
    tokens = [make_token(settings, "acme", "agent@example.com") for _ in range(2)]
    admin = principal_of(settings, make_key(settings, "acme", "admin"))

    run_in_transaction(
        settings, lambda session: people.update(session, admin, agent_id, role="admin")
    )
    for token in tokens:
        principal = principal_of(settings, token)
        assert (principal.role, principal.person_id) == (Role.ADMIN, agent_id)
    # Other keys of the workspace keep theirs.
    key_roles = fetch_rows(settings, "SELECT role FROM api_keys WHERE person_id IS NULL")
    assert [row["role"] for row in key_roles] == ["admin"]


def test_an_agent_is_refused_before_anyone_is_looked_up(settings: Settings) -> None:
    make_person(settings, "acme", "owner@example.com")
    make_person(settings, "acme", "agent@example.com", role="agent")
    agent = principal_of(settings, make_token(settings, "acme", "agent@example.com"))
    with pytest.raises(Forbidden):
        run_in_transaction(
            settings,
            lambda session: people.update(session, agent, "per_nobody", availability="online"),
        )


def test_two_owners_demoted_at_once_leave_one(settings: Settings) -> None:
    """The owners are locked while the last one is looked for: of two demotions running at
    once, the second waits for the first, then sees it, and is refused."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("SQLite lets one transaction write at a time")
    first = make_person(settings, "acme", "first@example.com")
    second = make_person(settings, "acme", "second@example.com", role="admin")
    admin = principal_of(settings, make_key(settings, "acme", "admin"))
    run_in_transaction(
        settings, lambda session: people.update(session, admin, second, role="owner")
    )

    def waiting_for_a_lock() -> bool:
        rows = fetch_rows(settings, "SELECT count(*) AS n FROM pg_locks WHERE NOT granted")
        return bool(rows[0]["n"])

    async def scenario() -> BaseException | None:
        db = Database(settings)
        try:
            async with db.transaction() as one, db.transaction() as other:
                await people.update(one, admin, first, role="admin")
                await one.flush()
                demoting = asyncio.create_task(people.update(other, admin, second, role="admin"))
                await eventually(waiting_for_a_lock, "the second demotion waits for the first")
                await one.commit()
                try:
                    await demoting
                except LastOwner as exc:
                    return exc
            return None
        finally:
            await db.dispose()

    refused = asyncio.run(scenario())
    assert isinstance(refused, LastOwner)
    assert sorted(roles(settings).values()) == ["admin", "owner"]


def test_round_robin_takes_the_online_person_handed_one_longest_ago(settings: Settings) -> None:
    make_person(settings, "acme", "owner@example.com", availability="away")
    a = make_person(settings, "acme", "a@example.com", availability="online")
    b = make_person(settings, "acme", "b@example.com", availability="online")
    make_person(settings, "acme", "c@example.com", availability="offline")

    async def next_one(session: AsyncSession) -> str | None:
        workspace = await workspaces.require(session, "acme")
        person = await people.next_for_assignment(session, workspace.id)
        return person.id if person else None

    assert [run_in_transaction(settings, next_one) for _ in range(4)] == [a, b, a, b]
    admin = principal_of(settings, make_key(settings, "acme", "admin"))
    for person_id in (a, b):
        run_in_transaction(
            settings,
            lambda session, p=person_id: people.update(session, admin, p, availability="away"),
        )
    assert run_in_transaction(settings, next_one) is None
