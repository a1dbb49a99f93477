"""``/api/v1/people``: the members of a workspace, and who may change their name, role and
availability."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from leadline.auth.roles import Role
from leadline.auth.service import Principal
from leadline.config import Settings
from leadline.people import service as people
from leadline.surfaces.leadiosa.people import PersonEnvelope, PersonList
from leadline.workspaces import service as workspaces
from tests.fixtures.audit import audit_rows
from tests.fixtures.factories import (
    fetch_rows,
    make_key,
    make_webhook_endpoint,
    run_in_transaction,
)
from tests.fixtures.leadiosa import bearer, error_of
from tests.fixtures.people import (
    make_person,
    person_with_token,
    remember_principals,
    webhook_events,
)

FIELDS = {"id", "name", "email", "role", "availability"}


def listed(client: TestClient, token: str, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/people", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    PersonList.model_validate(body)
    return body


def patch(client: TestClient, token: str, person_id: str, **body: Any) -> Any:
    return client.patch(f"/api/v1/people/{person_id}", json=body, headers=bearer(token))


def person_row(settings: Settings, person_id: str) -> dict[str, Any]:
    (row,) = fetch_rows(
        settings, "SELECT name, role, availability FROM people WHERE id = :id", id=person_id
    )
    return row


def test_members_are_listed_oldest_first(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    owner = make_person(settings, "acme", "Owner@Example.com", name="Olga", role="agent")
    admin = make_person(settings, "acme", "admin@example.com", name="Adam", role="admin")
    agent = make_person(settings, "acme", "agent@example.com", name="Agnes", role="agent")
    make_person(settings, "other", "elsewhere@example.com")

    body = listed(client, admin_key)
    assert body["pagination"] == {"has_more": False}
    assert [set(person) for person in body["data"]] == [FIELDS] * 3
    assert body["data"][0] == {
        "id": owner,
        "name": "Olga",
        "email": "owner@example.com",  # kept lower-cased
        "role": "owner",  # the first person is the owner, whatever was asked
        "availability": "offline",
    }
    assert [(p["id"], p["role"]) for p in body["data"]] == [
        (owner, "owner"),
        (admin, "admin"),
        (agent, "agent"),
    ]

    first = listed(client, admin_key, limit=2)
    assert [p["id"] for p in first["data"]] == [owner, admin]
    assert first["pagination"]["has_more"] is True
    rest = listed(client, admin_key, limit=2, after=first["pagination"]["next_cursor"])
    assert [p["id"] for p in rest["data"]] == [agent]
    assert rest["pagination"] == {"has_more": False}
    error_of(
        client.get("/api/v1/people?after=cur_nope", headers=bearer(admin_key)),
        400,
        "invalid_cursor",
    )


def test_every_person_reads_the_members_and_keys_other_than_admin_do_not(
    client: TestClient, settings: Settings
) -> None:
    make_person(settings, "acme", "owner@example.com")
    _, agent = person_with_token(settings, "acme", "agent@example.com", "agent")
    assert len(listed(client, agent)["data"]) == 2
    for role in ("integration", "marketing"):
        error_of(
            client.get("/api/v1/people", headers=bearer(make_key(settings, "acme", role))),
            403,
            "forbidden",
        )


def test_me_is_the_tokens_person(client: TestClient, settings: Settings, admin_key: str) -> None:
    make_person(settings, "acme", "owner@example.com")
    agent_id, agent = person_with_token(settings, "acme", "agent@example.com", "agent")
    me = client.get("/api/v1/people/me", headers=bearer(agent))
    assert me.status_code == 200, me.text
    PersonEnvelope.model_validate(me.json())
    assert me.json()["data"]["id"] == agent_id
    # An API key acts for the workspace, not for a person.
    error_of(client.get("/api/v1/people/me", headers=bearer(admin_key)), 404, "person_not_found")


def test_an_agent_changes_only_their_own_availability(
    client: TestClient, settings: Settings
) -> None:
    owner_id = make_person(settings, "acme", "owner@example.com")
    agent_id, agent = person_with_token(settings, "acme", "agent@example.com", "agent")

    online = patch(client, agent, agent_id, availability="online")
    assert online.status_code == 200, online.text
    assert online.json()["data"]["availability"] == "online"
    away = patch(client, agent, "me", availability="away")  # "me" is the caller's own person
    assert away.status_code == 200, away.text
    assert (away.json()["data"]["id"], away.json()["data"]["availability"]) == (agent_id, "away")

    error_of(patch(client, agent, owner_id, availability="online"), 403, "forbidden")
    error_of(patch(client, agent, agent_id, name="Agent Smith"), 403, "forbidden")
    error_of(patch(client, agent, agent_id, role="admin"), 403, "forbidden")
    error_of(patch(client, agent, "per_nobody", availability="online"), 403, "forbidden")
    assert person_row(settings, owner_id)["availability"] == "offline"
    assert person_row(settings, agent_id) == {
        "name": "Agent",
        "role": "agent",
        "availability": "away",
    }
    # Audited as the person who did it.
    changed = audit_rows(settings, action="person.updated", target_id=agent_id)
    assert [row["actor_type"] for row in changed] == ["user", "user"]
    assert {row["actor_id"] for row in changed} == {agent_id}
    assert changed[-1]["changes"] == {"availability": {"before": "online", "after": "away"}}


def test_an_admin_changes_name_and_role_and_the_tokens_follow_at_once(
    client: TestClient, settings: Settings
) -> None:
    make_person(settings, "acme", "owner@example.com")
    _, admin = person_with_token(settings, "acme", "admin@example.com", "admin")
    agent_id, agent = person_with_token(settings, "acme", "agent@example.com", "agent")
    remember_principals(client)
    error_of(client.get("/api/v1/webhooks", headers=bearer(agent)), 403, "forbidden")

    promoted = patch(client, admin, agent_id, name="  Agnes  ", role="admin")
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["data"] | {"id": "-"} == {
        "id": "-",
        "name": "Agnes",
        "email": "agent@example.com",
        "role": "admin",
        "availability": "offline",
    }
    assert {
        row["role"]
        for row in fetch_rows(
            settings, "SELECT role FROM api_keys WHERE person_id = :p", p=agent_id
        )
    } == {"admin"}
    # The very next request of the token has the new role.
    assert client.get("/api/v1/webhooks", headers=bearer(agent)).status_code == 200
    demoted = patch(client, admin, agent_id, role="agent")
    assert demoted.status_code == 200, demoted.text
    error_of(client.get("/api/v1/webhooks", headers=bearer(agent)), 403, "forbidden")
    (event, _) = audit_rows(settings, action="person.updated", target_id=agent_id)
    # A name is personal data: the log says it changed, not what it is.
    assert event["changes"] == {
        "name": {"before": "[personal data]", "after": "[personal data]"},
        "role": {"before": "agent", "after": "admin"},
    }


def test_the_last_owner_stays_one(client: TestClient, settings: Settings, admin_key: str) -> None:
    first_id, first = person_with_token(settings, "acme", "first@example.com", "owner")
    second_id = make_person(settings, "acme", "second@example.com", role="admin")

    last = error_of(patch(client, first, first_id, role="admin"), 409, "last_owner")
    assert "last owner" in last["message"]
    assert person_row(settings, first_id)["role"] == "owner"

    assert patch(client, first, second_id, role="owner").status_code == 200
    stepped_down = patch(client, first, "me", role="agent")
    assert stepped_down.status_code == 200, stepped_down.text
    # The owner left is the last one now, for an admin key too.
    error_of(patch(client, admin_key, second_id, role="admin"), 409, "last_owner")
    assert person_row(settings, second_id)["role"] == "owner"
    # Changing an owner's name or availability is no demotion.
    renamed = patch(client, admin_key, second_id, name="Second", role="owner")
    assert renamed.status_code == 200, renamed.text


def test_only_a_caller_with_an_owners_powers_makes_or_unmakes_an_owner(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    owner_id = make_person(settings, "acme", "owner@example.com")
    _, admin = person_with_token(settings, "acme", "admin@example.com", "admin")
    agent_id = make_person(settings, "acme", "agent@example.com", role="agent")

    error_of(patch(client, admin, agent_id, role="owner"), 403, "forbidden")
    error_of(patch(client, admin, owner_id, role="agent"), 403, "forbidden")
    assert person_row(settings, agent_id)["role"] == "agent"
    # An admin still manages the owner's name and availability, and admins and agents.
    assert patch(client, admin, owner_id, name="Olga", availability="away").status_code == 200
    assert patch(client, admin, agent_id, role="admin").status_code == 200
    # An admin key acts as an owner.
    made = patch(client, admin_key, agent_id, role="owner")
    assert made.status_code == 200, made.text
    assert person_row(settings, agent_id)["role"] == "owner"


def test_availability_across_online_sends_operator_events(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    make_webhook_endpoint(settings, admin_key, ["operator.online", "operator.offline"])
    make_person(settings, "acme", "owner@example.com")
    agent_id, agent = person_with_token(settings, "acme", "agent@example.com", "agent")

    for availability in ("online", "online", "away", "offline", "online", "offline"):
        answer = patch(client, agent, "me", availability=availability)
        assert answer.status_code == 200, answer.text

    events = webhook_events(settings)
    # online -> away is going offline; away -> offline and online -> online send nothing.
    assert [(e["type"], e["data"]["previous_availability"]) for e in events] == [
        ("operator.online", "offline"),
        ("operator.offline", "online"),
        ("operator.online", "offline"),
        ("operator.offline", "online"),
    ]
    assert events[0]["data"]["person"] == {
        "id": agent_id,
        "name": "Agent",
        "email": "agent@example.com",
        "role": "agent",
        "availability": "online",
    }
    assert events[1]["data"]["person"]["availability"] == "away"
    # Each change is audited; a change to what already is, is none.
    changes = [
        row["changes"]["availability"]["after"]
        for row in audit_rows(settings, action="person.updated", target_id=agent_id)
    ]
    assert changes == ["online", "away", "offline", "online", "offline"]
    assert len(fetch_rows(settings, "SELECT id FROM webhook_deliveries")) == 4


def test_people_of_another_workspace_are_not_found(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    make_person(settings, "acme", "owner@example.com")
    theirs = make_person(settings, "other", "owner@example.com")
    for body in ({"availability": "online"}, {"name": "Mallory"}):
        error_of(patch(client, admin_key, theirs, **body), 404, "person_not_found")
    error_of(patch(client, admin_key, "per_nobody", name="X"), 404, "person_not_found")
    assert person_row(settings, theirs) == {
        "name": "Owner",
        "role": "owner",
        "availability": "offline",
    }
    other_key = make_key(settings, "other", "admin")
    assert [p["id"] for p in listed(client, other_key)["data"]] == [theirs]


def test_bad_changes_are_refused_and_change_nothing(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    owner_id = make_person(settings, "acme", "owner@example.com")
    for body in (
        {"availability": "busy"},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 201},
        {"role": "marketing"},
        {"role": "owner", "email": "new@example.com"},
        {"availability": None, "colour": "blue"},
    ):
        error_of(patch(client, admin_key, owner_id, **body), 400, "validation_error")
    assert person_row(settings, owner_id) == {
        "name": "Owner",
        "role": "owner",
        "availability": "offline",
    }
    assert audit_rows(settings, action="person.updated") == []
    # A marketing or integration key changes no one.
    for role in ("marketing", "integration"):
        key = make_key(settings, "acme", role)
        error_of(patch(client, key, owner_id, availability="online"), 403, "forbidden")
    # Nothing to change is no change.
    same = patch(client, admin_key, owner_id)
    assert same.status_code == 200
    assert same.json()["data"]["availability"] == "offline"
    assert audit_rows(settings, action="person.updated") == []


def test_marketing_people_are_not_operators(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    """Marketing people read analytics in the dashboard: the API does not list or change
    them, they hold no token, and becoming one revokes a person's tokens."""
    owner = make_person(settings, "acme", "owner@example.com")
    marketer = make_person(settings, "acme", "mo@example.com", role="marketing")
    agent, agent_token = person_with_token(settings, "acme", "agent@example.com", "agent")
    remember_principals(client)

    assert [person["id"] for person in listed(client, admin_key)["data"]] == [owner, agent]
    assert listed(client, admin_key, limit=1)["pagination"]["has_more"] is True
    error_of(patch(client, admin_key, marketer, name="Moe"), 404, "person_not_found")
    refused = client.post("/api/v1/tokens", json={"person_id": marketer}, headers=bearer(admin_key))
    error_of(refused, 400, "validation_error")
    assert "holds no token" in refused.json()["error"]["message"]

    # An agent made a marketing person loses their tokens at once.
    assert client.get("/api/v1/people/me", headers=bearer(agent_token)).status_code == 200
    error_of(patch(client, admin_key, agent, role="marketing"), 400, "validation_error")

    async def demote(session: Any) -> None:
        ws = await workspaces.require(session, "acme")
        admin = Principal(workspace=ws, key_id="", role=Role.ADMIN, person_id=None)
        await people.update(session, admin, agent, role="marketing", availability="online")

    run_in_transaction(settings, demote)
    assert client.get("/api/v1/people/me", headers=bearer(agent_token)).status_code == 401
    assert person_row(settings, agent) == {
        "name": "Agent",
        "role": "marketing",
        "availability": "offline",  # never available for conversations
    }
