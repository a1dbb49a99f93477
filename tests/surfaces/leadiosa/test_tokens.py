"""``/api/v1/tokens``: people's tokens, listed without their secrets, created, revoked and
rotated; a revoked or rotated secret fails on the very next request."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.surfaces.leadiosa.tokens import TokenEnvelope, TokenList
from tests.fixtures.audit import audit_rows
from tests.fixtures.factories import fetch_rows, make_key
from tests.fixtures.leadiosa import TIMESTAMP, bearer, error_of
from tests.fixtures.people import make_person, person_with_token, remember_principals


def create(client: TestClient, token: str, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/tokens", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    TokenEnvelope.model_validate(response.json())
    created: dict[str, Any] = response.json()["data"]
    return created


def listed(client: TestClient, token: str, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/tokens", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    TokenList.model_validate(body)
    return body


def me(client: TestClient, token: str) -> Any:
    return client.get("/api/v1/people/me", headers=bearer(token))


def test_a_token_is_shown_once_and_acts_as_its_person(
    client: TestClient, settings: Settings
) -> None:
    owner_id, owner = person_with_token(settings, "acme", "owner@example.com", "owner")
    created = create(client, owner, name="laptop")
    assert set(created) == {"id", "name", "prefix", "person_id", "status", "token", "created_at"}
    assert (created["name"], created["person_id"], created["status"]) == (
        "laptop",
        owner_id,
        "active",
    )
    assert created["id"].startswith("key_")
    assert created["token"].startswith(created["prefix"])
    assert TIMESTAMP.match(created["created_at"])

    answer = me(client, created["token"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["id"] == owner_id
    tokens = listed(client, owner)["data"]
    assert created["id"] in [token["id"] for token in tokens]
    assert all("token" not in token for token in tokens)
    mine = next(token for token in tokens if token["id"] == created["id"])
    assert TIMESTAMP.match(mine["last_used_at"])  # it was used just now
    (row,) = fetch_rows(settings, "SELECT * FROM api_keys WHERE id = :id", id=created["id"])
    assert (row["role"], row["person_id"]) == ("owner", owner_id)
    assert created["token"] not in str(row)
    (audited,) = audit_rows(settings, action="api_key.created", target_id=created["id"])
    assert (audited["actor_type"], audited["actor_id"]) == ("user", owner_id)
    assert audited["changes"]["person_id"] == {"before": None, "after": owner_id}


def test_an_admin_key_names_the_person_and_the_token_takes_their_role(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    make_person(settings, "acme", "owner@example.com")
    agent_id = make_person(settings, "acme", "agent@example.com", role="agent")
    nobody = error_of(
        client.post("/api/v1/tokens", json={}, headers=bearer(admin_key)), 400, "validation_error"
    )
    assert "person_id" in nobody["message"]
    created = create(client, admin_key, person_id=agent_id)
    assert created["name"] == f"agent token of {agent_id}"
    (row,) = fetch_rows(settings, "SELECT role FROM api_keys WHERE id = :id", id=created["id"])
    assert row["role"] == "agent"
    # The agent's token works the inbox's people, and nothing an agent may not.
    assert me(client, created["token"]).json()["data"]["id"] == agent_id
    error_of(client.get("/api/v1/tokens", headers=bearer(created["token"])), 403, "forbidden")
    error_of(
        client.post("/api/v1/tokens", json={"person_id": "per_nobody"}, headers=bearer(admin_key)),
        404,
        "person_not_found",
    )


def test_agents_manage_no_tokens(client: TestClient, settings: Settings, admin_key: str) -> None:
    make_person(settings, "acme", "owner@example.com")
    _, agent = person_with_token(settings, "acme", "agent@example.com", "agent")
    theirs = listed(client, admin_key)["data"][0]["id"]
    for method, path, body in (
        ("GET", "/api/v1/tokens", None),
        ("POST", "/api/v1/tokens", {}),
        ("DELETE", f"/api/v1/tokens/{theirs}", None),
        ("POST", f"/api/v1/tokens/{theirs}/rotate", None),
    ):
        error_of(client.request(method, path, json=body, headers=bearer(agent)), 403, "forbidden")
    for role in ("integration", "marketing"):
        key = make_key(settings, "acme", role)
        error_of(client.get("/api/v1/tokens", headers=bearer(key)), 403, "forbidden")
    assert len(fetch_rows(settings, "SELECT id FROM api_keys WHERE person_id IS NOT NULL")) == 1


def test_an_admin_gets_no_secret_of_an_owner(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    owner_id, owner = person_with_token(settings, "acme", "owner@example.com", "owner")
    _, admin = person_with_token(settings, "acme", "admin@example.com", "admin")
    agent_id = make_person(settings, "acme", "agent@example.com", role="agent")
    owners_token = create(client, owner, name="owner's")

    error_of(
        client.post("/api/v1/tokens", json={"person_id": owner_id}, headers=bearer(admin)),
        403,
        "forbidden",
    )
    error_of(
        client.post(f"/api/v1/tokens/{owners_token['id']}/rotate", headers=bearer(admin)),
        403,
        "forbidden",
    )
    assert me(client, owners_token["token"]).status_code == 200  # rotated it was not
    # An admin makes tokens for agents and admins, and may revoke any token.
    assert create(client, admin, person_id=agent_id)["person_id"] == agent_id
    revoked = client.delete(f"/api/v1/tokens/{owners_token['id']}", headers=bearer(admin))
    assert revoked.status_code == 200, revoked.text
    # An admin key acts as an owner.
    assert create(client, admin_key, person_id=owner_id)["person_id"] == owner_id


def test_a_revoked_token_fails_on_the_very_next_request(
    client: TestClient, settings: Settings
) -> None:
    _, owner = person_with_token(settings, "acme", "owner@example.com", "owner")
    created = create(client, owner)
    remember_principals(client)
    assert me(client, created["token"]).status_code == 200

    revoked = client.delete(f"/api/v1/tokens/{created['id']}", headers=bearer(owner))
    assert revoked.status_code == 200, revoked.text
    TokenEnvelope.model_validate(revoked.json())
    gone = revoked.json()["data"]
    assert (gone["status"], "token" in gone) == ("revoked", False)
    assert TIMESTAMP.match(gone["revoked_at"])
    error_of(me(client, created["token"]), 401, "unauthorized")

    again = client.delete(f"/api/v1/tokens/{created['id']}", headers=bearer(owner))
    assert again.json()["data"]["revoked_at"] == gone["revoked_at"]
    error_of(
        client.post(f"/api/v1/tokens/{created['id']}/rotate", headers=bearer(owner)),
        409,
        "conflict",
    )
    listed_again = listed(client, owner)["data"]
    assert next(t for t in listed_again if t["id"] == created["id"])["status"] == "revoked"
    assert len(audit_rows(settings, action="api_key.revoked", target_id=created["id"])) == 1


def test_rotating_kills_the_old_secret_at_once(client: TestClient, settings: Settings) -> None:
    _, owner = person_with_token(settings, "acme", "owner@example.com", "owner")
    created = create(client, owner, name="ci")
    remember_principals(client)
    assert me(client, created["token"]).status_code == 200

    response = client.post(f"/api/v1/tokens/{created['id']}/rotate", headers=bearer(owner))
    assert response.status_code == 200, response.text
    TokenEnvelope.model_validate(response.json())
    rotated = response.json()["data"]
    assert (rotated["id"], rotated["name"], rotated["status"]) == (created["id"], "ci", "active")
    assert rotated["token"] != created["token"]
    assert rotated["token"].startswith(rotated["prefix"])
    assert "last_used_at" not in rotated  # the new secret has not been used

    error_of(me(client, created["token"]), 401, "unauthorized")
    assert me(client, rotated["token"]).status_code == 200
    shown = next(t for t in listed(client, owner)["data"] if t["id"] == created["id"])
    assert shown["prefix"] == rotated["prefix"]
    (audited,) = audit_rows(settings, action="api_key.rotated", target_id=created["id"])
    assert audited["changes"]["prefix"] == {"before": created["prefix"], "after": rotated["prefix"]}


def test_other_workspaces_tokens_and_workspace_keys_are_not_found(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    make_person(settings, "acme", "owner@example.com")
    _, theirs = person_with_token(settings, "other", "owner@example.com", "owner")
    their_token = create(client, theirs)
    # An admin key's own id is no token either.
    admin_key_id = fetch_rows(settings, "SELECT id FROM api_keys WHERE person_id IS NULL")[0]["id"]
    for token_id in (their_token["id"], admin_key_id, "key_nothing"):
        error_of(
            client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(admin_key)),
            404,
            "token_not_found",
        )
        error_of(
            client.post(f"/api/v1/tokens/{token_id}/rotate", headers=bearer(admin_key)),
            404,
            "token_not_found",
        )
    assert me(client, their_token["token"]).status_code == 200
    assert listed(client, admin_key)["data"] == []
    their_person = fetch_rows(
        settings, "SELECT person_id FROM api_keys WHERE id = :id", id=their_token["id"]
    )[0]["person_id"]
    error_of(
        client.post("/api/v1/tokens", json={"person_id": their_person}, headers=bearer(admin_key)),
        404,
        "person_not_found",
    )


def test_the_list_pages_newest_first_and_filters_by_person(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    owner_id = make_person(settings, "acme", "owner@example.com")
    agent_id = make_person(settings, "acme", "agent@example.com", role="agent")
    made = [
        create(client, admin_key, person_id=person, name=f"t{n}")["id"]
        for n, person in enumerate((owner_id, agent_id, owner_id))
    ]
    first = listed(client, admin_key, limit=2)
    assert [t["id"] for t in first["data"]] == made[::-1][:2]
    assert first["pagination"]["has_more"] is True
    rest = listed(client, admin_key, limit=2, after=first["pagination"]["next_cursor"])
    assert [t["id"] for t in rest["data"]] == [made[0]]
    assert rest["pagination"] == {"has_more": False}
    assert [t["id"] for t in listed(client, admin_key, person_id=agent_id)["data"]] == [made[1]]
    assert len(listed(client, admin_key, person_id="")["data"]) == 3
    assert listed(client, admin_key, person_id="per_nobody")["data"] == []
    # Workspace keys are not tokens: they are not listed here.
    assert all(t["id"].startswith("key_") and "person_id" in t for t in first["data"])


def test_bad_requests_create_nothing(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    owner_id = make_person(settings, "acme", "owner@example.com")
    for body in (
        {"person_id": owner_id, "name": "x" * 201},
        {"person_id": owner_id, "role": "admin"},
        {"person_id": 7},
        {"person_id": owner_id, "name": "a\u0000b"},
    ):
        error_of(
            client.post("/api/v1/tokens", json=body, headers=bearer(admin_key)),
            400,
            "validation_error",
        )
    assert fetch_rows(settings, "SELECT id FROM api_keys WHERE person_id IS NOT NULL") == []
