"""People's tokens: a token acts as its person, with their role, and its secret goes only to a
caller with every power of that person."""

from __future__ import annotations

import pytest

from leadline.audit.service import Actor
from leadline.auth import service as auth
from leadline.auth.roles import PERSON_ROLE_PERMISSIONS, Role
from leadline.auth.service import Principal
from leadline.config import Settings
from leadline.errors import Forbidden, NotFound, ValidationFailed
from leadline.people import tokens
from tests.fixtures.factories import fetch_rows, make_key, run_in_transaction
from tests.fixtures.people import make_person, make_token


def principal_of(settings: Settings, token: str) -> Principal:
    return run_in_transaction(settings, lambda session: auth.authenticate(session, token))


def test_a_token_acts_as_its_person_with_their_role(settings: Settings) -> None:
    make_person(settings, "acme", "owner@example.com")
    agent_id = make_person(settings, "acme", "agent@example.com", role="agent")
    principal = principal_of(settings, make_token(settings, "acme", "Agent@Example.com"))
    assert (principal.person_id, principal.role) == (agent_id, Role.AGENT)
    assert principal.actor == Actor("user", agent_id)
    assert principal.permissions == PERSON_ROLE_PERMISSIONS[Role.AGENT]


def test_tokens_are_made_for_people_of_the_workspace_only(settings: Settings) -> None:
    make_person(settings, "acme", "owner@example.com")
    make_person(settings, "other", "stranger@example.com")
    for workspace, email, error in (
        ("acme", "stranger@example.com", NotFound),
        ("nope", "owner@example.com", NotFound),
        ("acme", "not an address", ValidationFailed),
    ):
        with pytest.raises(error):
            make_token(settings, workspace, email)
    assert fetch_rows(settings, "SELECT id FROM api_keys") == []


def test_the_secret_goes_only_to_a_caller_with_every_power_of_the_person(
    settings: Settings,
) -> None:
    owner_id = make_person(settings, "acme", "owner@example.com")
    make_person(settings, "acme", "admin@example.com", role="admin")
    agent_id = make_person(settings, "acme", "agent@example.com", role="agent")
    admin = principal_of(settings, make_token(settings, "acme", "admin@example.com"))
    owners = principal_of(settings, make_token(settings, "acme", "owner@example.com"))
    key = principal_of(settings, make_key(settings, "acme", "admin"))

    def create(caller: Principal, person_id: str | None) -> tokens.IssuedToken:
        return run_in_transaction(
            settings, lambda session: tokens.create(session, caller, person_id=person_id)
        )

    with pytest.raises(Forbidden):
        create(admin, owner_id)
    with pytest.raises(Forbidden):
        run_in_transaction(settings, lambda session: tokens.rotate(session, admin, owners.key_id))
    assert create(admin, agent_id).person.id == agent_id
    assert create(admin, None).person.email == "admin@example.com"  # their own
    assert create(key, owner_id).issued.key.role == "owner"  # an admin key acts as the owner
    with pytest.raises(ValidationFailed, match="person_id"):
        create(key, None)
    revoked = run_in_transaction(
        settings, lambda session: tokens.revoke(session, admin, owners.key_id)
    )
    assert revoked.revoked_at is not None
