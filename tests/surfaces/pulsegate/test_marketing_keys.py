"""Marketing keys over HTTP and the command line: admins make, list, change, regenerate and
revoke them; each opens its own pages only; the analytics keys of the environment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadline.analytics.query import ReportQuery
from leadline.app import create_app
from leadline.cli import app as cli_app
from leadline.config import Settings
from leadline.surfaces.pulsegate.reports import Report, report_routes
from tests.fixtures.factories import fetch_rows, make_key, run_in_transaction


async def _pages(session: AsyncSession, query: ReportQuery, request: Request) -> object:
    return {"role": query.role, "pages": list(query.pages)}


# Test-only reports, one on a page a marketing key may be given and one it never opens.
TEST_REPORTS = [
    Report("/analytics/test-geo", "geo", _pages),
    Report("/analytics/test-overview", "overview", _pages),
]


def app_with_test_reports(settings: Settings) -> Any:
    app = create_app(settings)
    app.router.routes[0:0] = report_routes(TEST_REPORTS)
    return app


@pytest.fixture
def http(settings: Settings) -> Iterator[TestClient]:
    with TestClient(app_with_test_reports(settings)) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def admin(settings: Settings) -> dict[str, str]:
    return bearer(make_key(settings, "acme", "admin"))


def test_admin_crud_and_regenerate(
    http: TestClient, admin: dict[str, str], settings: Settings
) -> None:
    made = http.post(
        "/analytics/marketing-keys",
        json={"name": "Agency", "pages": ["overview", "sources"]},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    key = made.json()["marketing_key"]
    secret = made.json()["api_key"]
    assert key["api_key"] == secret
    assert key["pages"] == ["overview", "sources"]
    assert key["default_pages"] is False

    listed = http.get("/analytics/marketing-keys", headers=admin).json()["marketing_keys"]
    assert [item["id"] for item in listed] == [key["id"]]
    assert secret not in str(listed)
    assert listed[0]["api_key"].endswith("…")
    assert listed[0]["last_used_at"] is None

    # The key opens its own pages, not others.
    assert http.get("/analytics/test-overview", headers=bearer(secret)).status_code == 200
    refused = http.get("/analytics/test-geo", headers=bearer(secret))
    assert refused.status_code == 403
    assert "geo" in refused.json()["error"]
    used = http.get(f"/analytics/marketing-keys/{key['id']}", headers=admin).json()["marketing_key"]
    assert used["last_used_at"] is not None

    # A change is effective at once.
    changed = http.patch(
        f"/analytics/marketing-keys/{key['id']}", json={"pages": "geo"}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["marketing_key"]["pages"] == ["geo"]
    assert http.get("/analytics/test-geo", headers=bearer(secret)).status_code == 200
    assert http.get("/analytics/test-overview", headers=bearer(secret)).status_code == 403
    back = http.patch(f"/analytics/marketing-keys/{key['id']}", json={"pages": None}, headers=admin)
    assert back.json()["marketing_key"]["default_pages"] is True
    assert (
        http.get("/analytics/test-overview", headers=bearer(secret)).json()["pages"][0]
        == "overview"
    )

    # Regenerated: the old secret fails on the very next request.
    regenerated = http.post(f"/analytics/marketing-keys/{key['id']}/regenerate", headers=admin)
    assert regenerated.status_code == 200, regenerated.text
    new_secret = regenerated.json()["api_key"]
    assert new_secret != secret
    assert http.get("/analytics/test-overview", headers=bearer(secret)).status_code == 401
    assert http.get("/analytics/test-overview", headers=bearer(new_secret)).status_code == 200

    deleted = http.delete(f"/analytics/marketing-keys/{key['id']}", headers=admin)
    assert deleted.status_code == 200
    assert deleted.json()["marketing_key"]["active"] is False
    assert http.get("/analytics/test-overview", headers=bearer(new_secret)).status_code == 401
    again = http.post(f"/analytics/marketing-keys/{key['id']}/regenerate", headers=admin)
    assert again.status_code == 409

    actions = fetch_rows(
        settings, "SELECT action FROM audit_events WHERE target_id = :id ORDER BY seq", id=key["id"]
    )
    assert [row["action"] for row in actions] == [
        "api_key.created",
        "api_key.updated",
        "api_key.updated",
        "api_key.rotated",
        "api_key.revoked",
    ]


def test_bad_input_is_refused(http: TestClient, admin: dict[str, str]) -> None:
    bad = http.post(
        "/analytics/marketing-keys", json={"pages": ["overview", "leads"]}, headers=admin
    )
    assert bad.status_code == 400
    assert "leads" in bad.json()["error"]
    assert "overview" in bad.json()["error"]
    assert (
        http.post("/analytics/marketing-keys", json={"bogus": 1}, headers=admin).status_code == 400
    )
    made = http.post("/analytics/marketing-keys", headers=admin)
    assert made.status_code == 201
    key = made.json()["marketing_key"]
    assert key["default_pages"] is True
    assert "storage" not in key["pages"]
    empty = http.patch(f"/analytics/marketing-keys/{key['id']}", content=b"", headers=admin)
    assert empty.status_code == 400
    assert http.get("/analytics/marketing-keys/key_nope", headers=admin).status_code == 404
    assert http.put("/analytics/marketing-keys", headers=admin).status_code == 405


def test_only_admins_manage_and_each_workspace_sees_its_own(
    http: TestClient, admin: dict[str, str], settings: Settings
) -> None:
    assert http.get("/analytics/marketing-keys").status_code == 401
    marketing = bearer(make_key(settings, "acme", "marketing"))
    assert http.get("/analytics/marketing-keys", headers=marketing).status_code == 403
    assert http.post("/analytics/marketing-keys", headers=marketing).status_code == 403

    key = http.post("/analytics/marketing-keys", headers=admin).json()["marketing_key"]
    other = bearer(make_key(settings, "other", "admin"))
    assert http.get("/analytics/marketing-keys", headers=other).json()["marketing_keys"] == []
    for method, path in (
        ("GET", f"/analytics/marketing-keys/{key['id']}"),
        ("PATCH", f"/analytics/marketing-keys/{key['id']}"),
        ("DELETE", f"/analytics/marketing-keys/{key['id']}"),
        ("POST", f"/analytics/marketing-keys/{key['id']}/regenerate"),
    ):
        answer = http.request(method, path, json={"name": "x"}, headers=other)
        assert answer.status_code == 404, (method, path)
    # An integration key is not a marketing key.
    integration = http.post("/analytics/integrations", headers=admin).json()["integration"]
    assert (
        http.get(f"/analytics/marketing-keys/{integration['id']}", headers=admin).status_code == 404
    )


def test_cli_creates_a_marketing_key_with_pages(cli: CliRunner, http: TestClient) -> None:
    made = cli.invoke(
        cli_app,
        [
            "keys",
            "create",
            "--workspace",
            "acme",
            "--role",
            "marketing",
            "--pages",
            "overview,sources",
        ],
    )
    assert made.exit_code == 0, made.output
    secret = made.output.strip().splitlines()[-1]
    listed = cli.invoke(cli_app, ["keys", "list", "--workspace", "acme"])
    assert "overview,sources" in listed.stdout
    assert http.get("/analytics/test-overview", headers=bearer(secret)).status_code == 200
    assert http.get("/analytics/test-geo", headers=bearer(secret)).status_code == 403

    unknown = cli.invoke(
        cli_app,
        [
            "keys",
            "create",
            "--workspace",
            "acme",
            "--role",
            "marketing",
            "--pages",
            "overview,leads",
        ],
    )
    assert unknown.exit_code != 0
    assert "leads" in unknown.output
    assert "anomalies" in unknown.output
    not_marketing = cli.invoke(
        cli_app, ["keys", "create", "--workspace", "acme", "--role", "admin", "--pages", "overview"]
    )
    assert not_marketing.exit_code != 0
    assert "only for marketing keys" in not_marketing.output


ADMIN_ENV = "pg_admin_env_key_0123456789"
MARKETING_ENV = "pg_marketing_env_key_0123456789"


def test_environment_keys_are_accepted(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYTICS_API_KEY", ADMIN_ENV)
    monkeypatch.setenv("ANALYTICS_MARKETING_API_KEY", MARKETING_ENV)
    configured = Settings(database_url=settings.database_url)
    for _start in (1, 2):
        with TestClient(app_with_test_reports(configured)) as http:
            admin = http.get("/analytics/test-geo", headers={"X-API-Key": ADMIN_ENV})
            assert admin.status_code == 200
            assert admin.json()["role"] == "admin"
            marketing = http.get("/analytics/test-overview", headers=bearer(MARKETING_ENV))
            assert marketing.json()["role"] == "marketing"
            assert http.get("/analytics/sites", headers=bearer(MARKETING_ENV)).status_code == 403
            assert (
                http.get("/analytics/marketing-keys", headers=bearer(ADMIN_ENV)).status_code == 200
            )
    assert len(fetch_rows(settings, "SELECT id FROM api_keys")) == 2
    slugs = fetch_rows(settings, "SELECT slug FROM workspaces")
    assert slugs == [{"slug": "default"}]

    # Changed and unset: the old values are refused from the next start on.
    monkeypatch.setenv("ANALYTICS_API_KEY", ADMIN_ENV + "-new")
    monkeypatch.delenv("ANALYTICS_MARKETING_API_KEY")
    with TestClient(app_with_test_reports(Settings(database_url=settings.database_url))) as http:
        assert http.get("/analytics/test-geo", headers=bearer(ADMIN_ENV)).status_code == 401
        assert (
            http.get("/analytics/test-geo", headers=bearer(ADMIN_ENV + "-new")).status_code == 200
        )
        assert (
            http.get("/analytics/test-overview", headers=bearer(MARKETING_ENV)).status_code == 401
        )

    # Neither set: no key of the environment is accepted any longer.
    monkeypatch.delenv("ANALYTICS_API_KEY")
    with TestClient(app_with_test_reports(Settings(database_url=settings.database_url))) as http:
        assert (
            http.get("/analytics/test-geo", headers=bearer(ADMIN_ENV + "-new")).status_code == 401
        )


def test_serve_makes_no_first_admin_key_when_the_environment_has_one(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadline.cli import _bootstrap

    monkeypatch.setenv("ANALYTICS_API_KEY", ADMIN_ENV)
    configured = Settings(database_url=settings.database_url)
    assert run_in_transaction(configured, lambda session: _bootstrap(session, configured)) is None
    assert fetch_rows(settings, "SELECT id FROM api_keys") == []

    monkeypatch.delenv("ANALYTICS_API_KEY")
    plain = Settings(database_url=settings.database_url)
    token = run_in_transaction(plain, lambda session: _bootstrap(session, plain))
    assert token is not None
    assert token.startswith("ll_")
