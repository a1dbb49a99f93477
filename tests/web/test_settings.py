"""Settings for access, through the ASGI app: API keys, marketing keys, tokens, people and
invite links; who may open them (owners and admins), CSRF, other workspaces; and marketing
people, who see only their analytics pages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Route
from starlette.testclient import TestClient

from leadline.accounts import service as accounts
from leadline.accounts.service import SignedIn
from leadline.app import create_app
from leadline.audit.service import Actor
from leadline.auth import service as auth
from leadline.auth.pages import DEFAULT_MARKETING_PAGES, PAGES
from leadline.auth.roles import Role
from leadline.auth.service import Principal
from leadline.config import Settings
from leadline.errors import Forbidden
from leadline.models import Person, SignIn, Workspace
from leadline.people import service as people
from leadline.people import tokens as people_tokens
from leadline.web import access, leads
from leadline.web.settings import ROUTES
from leadline.workspaces import service as workspaces
from tests.fixtures.factories import execute_sql, fetch_rows, run_in_transaction
from tests.fixtures.web import (
    PASSWORD,
    cheap_hashing,  # noqa: F401  (a fixture)
    csrf_of,
    make_member,
    sign_in,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

OWNER = "owner@example.com"
PAGES_SHOWN = [
    "/app/settings",
    *(f"/app/settings/{name}" for name in ("keys", "marketing-keys", "tokens", "people")),
]
SETTINGS_ROUTES = [
    (method, "/app" + route.path)
    for route in ROUTES
    if isinstance(route, Route) and route.path != "/invite"
    for method in sorted(route.methods or ())
    if method != "HEAD"
]
_SECRET = re.compile(r'id="secret-value"[^>]* value="([^"]+)"')


@pytest.fixture
def other_browser(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as other:
        yield other


def secret_of(html: str) -> str:
    found = _SECRET.search(html)
    assert found is not None, "the page shows no secret"
    return found.group(1)


def post(client: TestClient, path: str, csrf: str, **data: Any) -> httpx.Response:
    return client.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def concrete(path: str) -> str:
    for name in ("key_id", "token_id", "person_id", "invite_id"):
        path = path.replace("{" + name + "}", "x_nothing")
    return path


def owner_signed_in(client: TestClient, settings: Settings) -> str:
    make_member(settings, "acme", OWNER, role="owner")
    return sign_in(client, OWNER)


# ------------------------------------------------------------------------------ who may


def test_the_pages_open_for_owners_and_admins_with_what_to_do_next(
    client: TestClient, other_browser: TestClient, settings: Settings
) -> None:
    owner_signed_in(client, settings)
    make_member(settings, "acme", "admin@example.com", role="admin")
    sign_in(other_browser, "admin@example.com")
    for browser in (client, other_browser):
        for path in PAGES_SHOWN:
            answer = browser.get(path)
            assert answer.status_code == 200, (path, answer.text)
            assert '<a href="/app/settings" aria-current="page">Settings</a>' in answer.text
    index = client.get("/app/settings").text
    for sub in (
        "keys",
        "marketing-keys",
        "tokens",
        "people",
        "sites",
        "webhooks",
        "addresses",
        "privacy",
    ):
        assert f'href="/app/settings/{sub}"' in index
    assert "no admin or integration key yet" in client.get("/app/settings/keys").text
    assert "No marketing key yet" in client.get("/app/settings/marketing-keys").text
    assert "You have no token yet" in client.get("/app/settings/tokens").text
    people_page = client.get("/app/settings/people").text
    assert "No invite is waiting" in people_page
    assert "admin@example.com" in people_page


@pytest.mark.parametrize(("method", "path"), SETTINGS_ROUTES)
def test_every_settings_route_refuses_anonymous_agents_marketing_and_forms_without_csrf(
    client: TestClient, other_browser: TestClient, settings: Settings, method: str, path: str
) -> None:
    path = concrete(path)
    anonymous = client.request(method, path, follow_redirects=False)
    if method == "GET":
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/app/signin?next=")
    else:
        assert anonymous.status_code == 401
    make_member(settings, "acme", OWNER, role="owner")
    make_member(settings, "acme", "agent@example.com", role="agent")
    make_member(settings, "acme", "mo@example.com", role="marketing")
    csrf = sign_in(client, "agent@example.com")
    data = {"csrf_token": csrf} if method == "POST" else None
    assert client.request(method, path, data=data).status_code == 403
    csrf = sign_in(other_browser, "mo@example.com")
    data = {"csrf_token": csrf} if method == "POST" else None
    refused = other_browser.request(method, path, data=data)
    assert refused.status_code == 403
    assert "does not open settings" in refused.text
    if method == "POST":
        with TestClient(create_app(settings)) as owner:
            sign_in(owner, OWNER)
            assert owner.post(path, data={"name": "x"}).status_code == 403


def test_another_workspaces_things_are_not_found(client: TestClient, settings: Settings) -> None:
    csrf = owner_signed_in(client, settings)
    make_member(settings, "globex", "boss@globex.example", role="owner")

    async def things(session: AsyncSession) -> dict[str, str]:
        ws = await workspaces.require(session, "globex")
        boss = await people.by_email(session, ws.id, "boss@globex.example")
        worker = await people.add(
            session, ws.id, email="w@globex.example", name="W", role="agent", actor=Actor.cli()
        )
        key = await auth.issue_key(session, ws, role="integration", actor=Actor.cli())
        marketing = await auth.issue_key(session, ws, role="marketing", actor=Actor.cli())
        token = await people_tokens.issue(session, ws, boss, name=None, actor=Actor.cli())
        principal = Principal(workspace=ws, key_id="", role=Role.OWNER, person_id=boss.id)
        invite = await accounts.invite(session, principal, email="new@globex.example", role="agent")
        return {
            "key": key.key.id,
            "marketing": marketing.key.id,
            "token": token.key.id,
            "person": worker.id,
            "invite": invite.link.id,
        }

    ids = run_in_transaction(settings, things)
    for path, data in (
        (f"/app/settings/keys/{ids['key']}/revoke", {"role": "integration"}),
        (f"/app/settings/marketing-keys/{ids['marketing']}/pages", {"pages": "overview"}),
        (f"/app/settings/marketing-keys/{ids['marketing']}/regenerate", {}),
        (f"/app/settings/marketing-keys/{ids['marketing']}/delete", {}),
        (f"/app/settings/tokens/{ids['token']}/rotate", {}),
        (f"/app/settings/tokens/{ids['token']}/delete", {}),
        (f"/app/settings/people/{ids['person']}/role", {"role": "admin"}),
        (f"/app/settings/people/{ids['person']}/remove", {}),
        (f"/app/settings/invites/{ids['invite']}/revoke", {}),
    ):
        answer = post(client, path, csrf, **data)
        assert answer.status_code == 404, (path, answer.text)
    tokens = client.post(
        "/app/settings/tokens", data={"csrf_token": csrf, "person_id": ids["person"]}
    )
    assert tokens.status_code == 404
    assert fetch_rows(
        settings, "SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NOT NULL"
    ) == [{"n": 0}]
    [worker] = fetch_rows(settings, "SELECT role FROM people WHERE id = :id", id=ids["person"])
    assert worker["role"] == "agent"
    assert len(fetch_rows(settings, "SELECT id FROM one_time_links WHERE purpose = 'invite'")) == 1


# ------------------------------------------------------------------------------ API keys


def test_a_key_made_on_the_page_works_until_revoked_there(
    client: TestClient, settings: Settings
) -> None:
    csrf = owner_signed_in(client, settings)
    made = post(client, "/app/settings/keys", csrf, name="CRM sync", role="admin")
    assert made.status_code == 201
    secret = secret_of(made.text)
    assert 'data-copy="secret-value"' in made.text
    assert '<script src="/app/static/settings.js" defer></script>' in made.text
    assert client.get("/api/v1/people", headers=bearer(secret)).status_code == 200
    listing = client.get("/app/settings/keys").text
    assert secret not in listing  # shown once
    [key] = fetch_rows(settings, "SELECT id, prefix, name, role FROM api_keys")
    assert (key["name"], key["role"]) == ("CRM sync", "admin")
    assert f"<code>{key['prefix']}…</code>" in listing
    assert "last used" in listing

    revoked = post(client, f"/app/settings/keys/{key['id']}/revoke", csrf, role="admin")
    assert revoked.status_code == 303
    assert revoked.headers["location"] == "/app/settings/keys"
    assert client.get("/api/v1/people", headers=bearer(secret)).status_code == 401
    assert "revoked" in client.get("/app/settings/keys").text


def test_a_key_from_the_environment_is_not_managed_here(
    client: TestClient, settings: Settings
) -> None:
    """Such a key follows its variable (as over the APIs): unset it to retire the key."""
    owner_signed_in(client, settings)
    run_in_transaction(
        settings,
        lambda session: auth.sync_environment_keys(
            session, {"ANALYTICS_API_KEY": "k" * 32}, "acme"
        ),
    )
    page = client.get("/app/settings/keys").text
    assert "ANALYTICS_API_KEY" not in page
    assert "no admin or integration key yet" in page


def test_bad_key_forms_get_a_clear_refusal(
    client: TestClient, other_browser: TestClient, settings: Settings
) -> None:
    csrf = owner_signed_in(client, settings)
    for data, status, words in (
        ({"role": "marketing"}, 400, "admin or an integration key"),
        ({"role": "owner"}, 400, "admin or an integration key"),
        ({"role": "admin", "name": "x" * 250}, 400, "at most 200 characters"),
        ({"role": "admin", "name": "a\x00b"}, 400, "NUL"),
    ):
        answer = post(client, "/app/settings/keys", csrf, **data)
        assert answer.status_code == status, answer.text
        assert words in answer.text
    # An admin person may not make an admin key (it may close the workspace); an integration
    # key, yes.
    make_member(settings, "acme", "admin@example.com", role="admin")
    admin_csrf = sign_in(other_browser, "admin@example.com")
    refused = post(other_browser, "/app/settings/keys", admin_csrf, role="admin")
    assert refused.status_code == 403
    assert (
        post(other_browser, "/app/settings/keys", admin_csrf, role="integration").status_code == 201
    )


# ------------------------------------------------------------------------ marketing keys


def test_marketing_keys_with_their_pages_regenerated_and_deleted(
    client: TestClient, settings: Settings
) -> None:
    csrf = owner_signed_in(client, settings)
    made = client.post(
        "/app/settings/marketing-keys",
        data={"csrf_token": csrf, "name": "Agency", "pages": ["overview", "sources"]},
    )
    assert made.status_code == 201
    first = secret_of(made.text)
    [key] = fetch_rows(settings, "SELECT id, pages FROM api_keys WHERE role = 'marketing'")
    assert json.loads(key["pages"]) == ["overview", "sources"]
    assert "Pages: overview, sources" in client.get("/app/settings/marketing-keys").text
    assert client.get("/analytics/anomalies", headers=bearer(first)).status_code == 403

    changed = client.post(
        f"/app/settings/marketing-keys/{key['id']}/pages",
        data={"csrf_token": csrf, "pages": ["overview", "anomalies"]},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert client.get("/analytics/anomalies", headers=bearer(first)).status_code == 200
    none_chosen = post(client, f"/app/settings/marketing-keys/{key['id']}/pages", csrf)
    assert none_chosen.status_code == 400
    assert "at least one page" in none_chosen.text
    unknown = client.post(
        f"/app/settings/marketing-keys/{key['id']}/pages",
        data={"csrf_token": csrf, "pages": ["overview", "payroll"]},
    )
    assert unknown.status_code == 400
    assert "nknown page payroll" in unknown.text

    regenerated = post(client, f"/app/settings/marketing-keys/{key['id']}/regenerate", csrf)
    assert regenerated.status_code == 200
    second = secret_of(regenerated.text)
    assert second != first
    assert client.get("/analytics/anomalies", headers=bearer(second)).status_code == 200
    assert client.get("/analytics/anomalies", headers=bearer(first)).status_code == 401

    deleted = post(client, f"/app/settings/marketing-keys/{key['id']}/delete", csrf)
    assert deleted.status_code == 303
    assert client.get("/analytics/anomalies", headers=bearer(second)).status_code == 401
    again = post(client, f"/app/settings/marketing-keys/{key['id']}/regenerate", csrf)
    assert again.status_code == 409


# ------------------------------------------------------------------------------ tokens


def test_tokens_created_rotated_and_deleted_on_the_page(
    client: TestClient, other_browser: TestClient, settings: Settings
) -> None:
    csrf = owner_signed_in(client, settings)
    made = post(client, "/app/settings/tokens", csrf, name="support bot")
    assert made.status_code == 201
    first = secret_of(made.text)
    me = client.get("/api/v1/people/me", headers=bearer(first))
    assert me.json()["data"]["email"] == OWNER
    [token] = fetch_rows(settings, "SELECT id FROM api_keys WHERE person_id IS NOT NULL")
    assert "support bot" in client.get("/app/settings/tokens").text

    rotated = post(client, f"/app/settings/tokens/{token['id']}/rotate", csrf)
    assert rotated.status_code == 200
    second = secret_of(rotated.text)
    assert client.get("/api/v1/people/me", headers=bearer(first)).status_code == 401
    assert client.get("/api/v1/people/me", headers=bearer(second)).status_code == 200

    # An admin sees the owner's token among the workspace's, and may not take its secret.
    make_member(settings, "acme", "admin@example.com", role="admin")
    admin_csrf = sign_in(other_browser, "admin@example.com")
    page = other_browser.get("/app/settings/tokens").text
    assert "The workspace's other tokens" in page
    assert "support bot" in page
    assert (
        post(other_browser, f"/app/settings/tokens/{token['id']}/rotate", admin_csrf).status_code
        == 403
    )
    marketer = make_member(settings, "acme", "mo@example.com", role="marketing")
    refused = post(other_browser, "/app/settings/tokens", admin_csrf, person_id=marketer)
    assert refused.status_code == 400
    assert "holds no token" in refused.text

    deleted = post(client, f"/app/settings/tokens/{token['id']}/delete", csrf)
    assert deleted.status_code == 303
    assert client.get("/api/v1/people/me", headers=bearer(second)).status_code == 401


# ------------------------------------------------------------------------------ people


def test_roles_change_and_people_leave_by_the_people_rules(
    client: TestClient, other_browser: TestClient, settings: Settings
) -> None:
    csrf = owner_signed_in(client, settings)
    owner_id = fetch_rows(settings, "SELECT id FROM people")[0]["id"]
    agent = make_member(settings, "acme", "agent@example.com", role="agent")
    admin = make_member(settings, "acme", "admin@example.com", role="admin")

    made_marketing = client.post(
        f"/app/settings/people/{agent}/role",
        data={"csrf_token": csrf, "role": "marketing", "pages": ["overview", "sources"]},
        follow_redirects=False,
    )
    assert made_marketing.status_code == 303
    [row] = fetch_rows(settings, "SELECT role, pages FROM people WHERE id = :id", id=agent)
    assert row["role"] == "marketing"
    assert json.loads(row["pages"]) == ["overview", "sources"]
    assert "Pages: overview, sources" in client.get("/app/settings/people").text
    back = post(client, f"/app/settings/people/{agent}/role", csrf, role="agent", pages="overview")
    assert back.status_code == 303
    [row] = fetch_rows(settings, "SELECT role, pages FROM people WHERE id = :id", id=agent)
    assert row == {"role": "agent", "pages": None}
    assert post(client, f"/app/settings/people/{agent}/role", csrf, role="boss").status_code == 400

    # An admin neither demotes nor removes an owner; nobody removes themselves, and the last
    # owner stays one.
    admin_csrf = sign_in(other_browser, "admin@example.com")
    assert (
        post(
            other_browser, f"/app/settings/people/{owner_id}/role", admin_csrf, role="agent"
        ).status_code
        == 403
    )
    assert (
        post(other_browser, f"/app/settings/people/{owner_id}/remove", admin_csrf).status_code
        == 403
    )
    assert (
        post(other_browser, f"/app/settings/people/{admin}/remove", admin_csrf).status_code == 403
    )
    last = post(client, f"/app/settings/people/{owner_id}/role", csrf, role="admin")
    assert last.status_code == 409
    assert "last owner" in last.text

    removed = post(client, f"/app/settings/people/{admin}/remove", csrf)
    assert removed.status_code == 303
    assert [
        row["email"] for row in fetch_rows(settings, "SELECT email FROM people ORDER BY email")
    ] == [
        "agent@example.com",
        OWNER,
    ]
    # Their sign-in ended with them.
    assert other_browser.get("/app/", follow_redirects=False).status_code == 303


def test_an_invite_link_makes_a_marketing_person_who_sees_only_analytics(
    client: TestClient, other_browser: TestClient, settings: Settings
) -> None:
    csrf = owner_signed_in(client, settings)
    made = client.post(
        "/app/settings/invites",
        data={
            "csrf_token": csrf,
            "email": "Mo@Example.com",
            "role": "marketing",
            "pages": ["overview", "sources"],
        },
    )
    assert made.status_code == 201
    link = secret_of(made.text)
    assert link.startswith("http://testserver/app/invite?token=")
    people_page = client.get("/app/settings/people").text
    assert "mo@example.com" in people_page
    assert link not in people_page
    path = link.removeprefix("http://testserver")

    assert other_browser.head(path).status_code == 200
    form = other_browser.get(path)
    assert form.status_code == 200
    assert "mo@example.com" in form.text
    invite_csrf = csrf_of(form.text)
    short = other_browser.post(
        path,
        data={
            "csrf_token": invite_csrf,
            "name": "Mo",
            "password": "short",
            "password_again": "short",
        },
    )
    assert short.status_code == 400
    assert 'role="alert"' in short.text
    no_csrf = other_browser.post(
        path, data={"name": "Mo", "password": PASSWORD, "password_again": PASSWORD}
    )
    assert no_csrf.status_code == 403
    joined = other_browser.post(
        path,
        data={
            "csrf_token": invite_csrf,
            "name": "Mo",
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
        follow_redirects=False,
    )
    assert joined.status_code == 303
    assert joined.headers["location"] == "/app/"
    home = other_browser.get("/app/")
    assert "Welcome, Mo" in home.text
    nav = home.text.split('<nav aria-label="Main">')[1].split("</nav>")[0]
    assert 'href="/app/analytics"' in nav
    for area in ("leads", "inbox", "settings"):
        assert f'href="/app/{area}"' not in nav
    if any(getattr(route, "path", "") == "/leads" for route in leads.ROUTES):
        assert other_browser.get("/app/leads").status_code == 403
    assert other_browser.get("/app/settings").status_code == 403
    assert other_browser.get("/app/settings/people").status_code == 403
    [row] = fetch_rows(settings, "SELECT role, pages FROM people WHERE email = 'mo@example.com'")
    assert row["role"] == "marketing"
    assert json.loads(row["pages"]) == ["overview", "sources"]

    # Used once: the link is gone, and the invite is no longer pending.
    used = other_browser.get(path)
    assert used.status_code == 404
    assert "has been used" in used.text
    assert "No invite is waiting" in client.get("/app/settings/people").text
    # Signs in again with the password.
    with TestClient(create_app(settings)) as again:
        sign_in(again, "mo@example.com")


def test_invites_refused_withdrawn_and_expired(
    client: TestClient, other_browser: TestClient, settings: Settings
) -> None:
    csrf = owner_signed_in(client, settings)
    make_member(settings, "acme", "admin@example.com", role="admin")
    for data, status, words in (
        ({"email": "not an address", "role": "agent"}, 400, "is not an email address"),
        ({"email": "admin@example.com", "role": "agent"}, 409, "a member of this workspace"),
        ({"email": "x@example.com", "role": "integration"}, 400, "nknown role"),
        ({"email": "x@example.com", "role": "marketing"}, 400, "at least one page"),
    ):
        answer = post(client, "/app/settings/invites", csrf, **data)
        assert answer.status_code == status, answer.text
        assert words in answer.text
    admin_csrf = sign_in(other_browser, "admin@example.com")
    owner_invite = post(
        other_browser, "/app/settings/invites", admin_csrf, email="o@example.com", role="owner"
    )
    assert owner_invite.status_code == 403

    withdrawn = secret_of(
        post(client, "/app/settings/invites", csrf, email="w@example.com", role="agent").text
    )
    expired = secret_of(
        post(client, "/app/settings/invites", csrf, email="e@example.com", role="agent").text
    )
    [w] = fetch_rows(settings, "SELECT id FROM one_time_links WHERE email = 'w@example.com'")
    assert post(client, f"/app/settings/invites/{w['id']}/revoke", csrf).status_code == 303
    assert post(client, f"/app/settings/invites/{w['id']}/revoke", csrf).status_code == 404
    execute_sql(
        settings,
        "UPDATE one_time_links SET expires_at = created_at WHERE email = 'e@example.com'",
    )
    for link in (
        withdrawn,
        expired,
        "http://testserver/app/invite?token=made-up",
        "http://testserver/app/invite",
    ):
        answer = other_browser.get(link.removeprefix("http://testserver"))
        assert answer.status_code == 404
        assert "ask whoever invited you for a new one" in answer.text


# ------------------------------------------------------------------------------ marketing people


def test_what_a_marketing_person_opens_and_sees_masked() -> None:
    workspace = Workspace(id="ws_1", slug="acme", name="Acme")
    signin = SignIn(id="s", person_id="per_1", workspace_id="ws_1")

    def who(role: str, pages: str | None = None) -> SignedIn:
        person = Person(
            id="per_1", workspace_id="ws_1", email="a@b.c", name="A", role=role, pages=pages
        )
        return SignedIn(person=person, workspace=workspace, signin=signin)

    assert access.pages_of(who("marketing", '["sources", "overview"]')) == ("sources", "overview")
    assert access.pages_of(who("marketing")) == DEFAULT_MARKETING_PAGES
    assert access.masked(who("marketing")) is True
    for area in ("leads", "inbox", "settings"):
        with pytest.raises(Forbidden):
            access.require_area(who("marketing"), area)
    access.require_area(who("marketing"), "analytics")
    for role in ("owner", "admin", "agent"):
        assert access.pages_of(who(role)) == PAGES
        assert access.masked(who(role)) is False


def test_marketing_people_are_never_assigned_a_conversation(settings: Settings) -> None:
    make_member(settings, "acme", OWNER, role="owner")
    make_member(settings, "acme", "mo@example.com", role="marketing")
    execute_sql(settings, "UPDATE people SET availability = 'online' WHERE role = 'marketing'")

    async def next_one(session: AsyncSession) -> Person | None:
        ws = await workspaces.require(session, "acme")
        return await people.next_for_assignment(session, ws.id)

    assert run_in_transaction(settings, next_one) is None
    execute_sql(settings, "UPDATE people SET availability = 'online'")
    found = run_in_transaction(settings, next_one)
    assert found is not None
    assert found.email == OWNER
