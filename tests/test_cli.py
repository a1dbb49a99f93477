"""The ``leadline`` command: migrate, keys, and serve as a newcomer runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadline.app import create_app
from leadline.cli import app
from leadline.config import Settings, get_settings
from tests.fixtures.factories import fetch_rows
from tests.fixtures.server import free_port


def check(base_url: str, key: str) -> int:
    return httpx.post(f"{base_url}/api/check", headers={"X-API-KEY": key}).status_code


def test_keys_create_prints_key_alone_on_last_line(cli: CliRunner, settings: Settings) -> None:
    result = cli.invoke(
        app, ["keys", "create", "--workspace", "newco", "--role", "integration", "--name", "Zapier"]
    )
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("ll_")
    assert " " not in key
    rows = fetch_rows(
        settings,
        "SELECT w.slug, k.role, k.name, k.key_hash FROM api_keys k "
        "JOIN workspaces w ON w.id = k.workspace_id",
    )
    assert [(r["slug"], r["role"], r["name"]) for r in rows] == [("newco", "integration", "Zapier")]
    assert key not in str(rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workspace", "acme", "--role", "owner"], "unknown role"),
        (["--workspace", "Not A Slug", "--role", "admin"], "slug"),
    ],
)
def test_keys_create_refuses_bad_input(cli: CliRunner, args: list[str], message: str) -> None:
    result = cli.invoke(app, ["keys", "create", *args])
    assert result.exit_code != 0
    assert message in result.stderr


def test_a_key_clients_already_send_is_kept(cli: CliRunner, settings: Settings) -> None:
    existing = "pg-admin-0123456789abcdef"
    result = cli.invoke(
        app,
        ["keys", "create", "--workspace", "acme", "--role", "admin", "--from-stdin"],
        input=existing + "\n",
    )
    assert result.exit_code == 0, result.output
    assert existing not in result.stdout  # never printed
    assert "from the key given" in result.stdout
    (row,) = fetch_rows(settings, "SELECT key_hash, prefix FROM api_keys")
    assert existing not in str(row)
    assert row["prefix"] == existing[:6]  # a quarter of the key at most
    with TestClient(create_app(settings)) as client:
        answer = client.get("/analytics/sites", headers={"Authorization": f"Bearer {existing}"})
        assert answer.status_code == 200, answer.text
        assert client.get("/api/check", headers={"X-API-KEY": existing}).status_code == 200

    again = cli.invoke(
        app,
        ["keys", "create", "--workspace", "other", "--role", "admin", "--from-stdin"],
        input=existing + "\n",
    )
    assert again.exit_code == 1
    assert "in use already" in again.stderr
    for bad in ("short", "has a space in it somewhere", ""):
        refused = cli.invoke(
            app,
            ["keys", "create", "--workspace", "acme", "--role", "admin", "--from-stdin"],
            input=bad + "\n",
        )
        assert refused.exit_code == 1, bad
        assert "20-200 printable characters" in refused.stderr
    assert len(fetch_rows(settings, "SELECT id FROM api_keys")) == 1


def test_a_site_keeps_the_key_its_pages_carry(cli: CliRunner, settings: Settings) -> None:
    args = ["sites", "create", "--workspace", "acme", "--domain", "shop.example"]
    kept = cli.invoke(app, [*args, "--site-key", "pk_live_MOVEDFROMPULSEGATE"])
    assert kept.exit_code == 0, kept.output
    assert kept.stdout.strip().splitlines()[-1] == "pk_live_MOVEDFROMPULSEGATE"
    taken = cli.invoke(app, [*args, "--site-key", "pk_live_MOVEDFROMPULSEGATE"])
    assert taken.exit_code == 1
    assert "is taken" in taken.stderr
    bad = cli.invoke(app, [*args, "--site-key", "no spaces allowed"])
    assert bad.exit_code == 1
    assert "is not a site key" in bad.stderr
    assert len(fetch_rows(settings, "SELECT id FROM sites")) == 1


def test_keys_list_shows_prefix_never_the_key(cli: CliRunner) -> None:
    created = cli.invoke(app, ["keys", "create", "--workspace", "acme", "--role", "marketing"])
    key = created.stdout.strip().splitlines()[-1]
    listing = cli.invoke(app, ["keys", "list"])
    assert listing.exit_code == 0
    assert key[:10] in listing.stdout
    assert key not in listing.stdout
    assert "marketing" in listing.stdout
    assert "acme" in listing.stdout
    missing = cli.invoke(app, ["keys", "list", "--workspace", "nope"])
    assert missing.exit_code != 0


def test_keys_revoke(cli: CliRunner, settings: Settings) -> None:
    created = cli.invoke(app, ["keys", "create", "--workspace", "acme", "--role", "admin"])
    key = created.stdout.strip().splitlines()[-1]
    revoked = cli.invoke(app, ["keys", "revoke", key[:10]])
    assert revoked.exit_code == 0, revoked.output
    assert fetch_rows(settings, "SELECT revoked_at FROM api_keys")[0]["revoked_at"] is not None
    unknown = cli.invoke(app, ["keys", "revoke", "ll_nothing"])
    assert unknown.exit_code != 0
    assert "no API key" in unknown.stderr


def test_migrate_builds_a_fresh_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("LEADLINE_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["migrate"])
        assert result.exit_code == 0, result.output
        tables = fetch_rows(
            Settings(database_url=url), "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
        assert {"leads", "api_keys", "workspaces", "alembic_version"} <= {t["name"] for t in tables}
    finally:
        get_settings.cache_clear()


def _serve(url: str, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "LEADLINE_DATABASE_URL": url}
    env.pop("LEADLINE_SECRET_KEY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "leadline.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _wait_until_up(base_url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "leadline serve exited"
        try:
            httpx.get(f"{base_url}/health", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("leadline serve did not start")


def test_serve_on_empty_database_creates_default_workspace_and_admin_key(
    settings: Settings,
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    proc = _serve(settings.database_url, port)
    try:
        assert proc.stdout is not None
        announcement = proc.stdout.readline()
        key = proc.stdout.readline().strip()
        assert "default" in announcement
        assert key.startswith("ll_")
        _wait_until_up(base_url, proc)
        assert check(base_url, key) == 200
        lead = httpx.post(f"{base_url}/api/leads", json={"name": "Ada"}, headers={"X-API-KEY": key})
        assert lead.status_code == 201
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    rows = fetch_rows(settings, "SELECT slug FROM workspaces")
    assert [r["slug"] for r in rows] == ["default"]
    secret = fetch_rows(settings, "SELECT value FROM instance_settings WHERE key = 'secret_key'")
    assert len(secret) == 1
    assert len(secret[0]["value"]) >= 32

    # A second start prints no new key and keeps the secret.
    proc = _serve(settings.database_url, port)
    try:
        _wait_until_up(base_url, proc)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "ll_" not in out
    assert fetch_rows(settings, "SELECT value FROM instance_settings") == secret
    assert len(fetch_rows(settings, "SELECT id FROM api_keys")) == 1


def test_workspaces_update_and_list(cli: CliRunner, api: TestClient) -> None:
    for email in ("dup@example.com", "dup@example.com"):
        api.post("/api/leads", json={"email": email})
    assert (
        api.patch("/api/leads", json={"email": "dup@example.com", "status": "won"}).status_code
        == 409
    )

    result = cli.invoke(
        app,
        [
            "workspaces",
            "update",
            "acme",
            "--allow-bulk-updates",
            "--leads-limit",
            "500",
            "--currency",
            "usd",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "bulk-updates=yes" in result.stdout
    assert "leads-limit=500" in result.stdout
    assert "currency=USD" in result.stdout
    assert (
        api.patch("/api/leads", json={"email": "dup@example.com", "status": "won"}).status_code
        == 200
    )
    usage = api.post("/api/stats", json={}).json()["data"]["usage"]
    assert usage["leadsLimit"] == 500

    cli.invoke(app, ["workspaces", "update", "acme", "--unlimited", "--no-bulk-updates"])
    listing = cli.invoke(app, ["workspaces", "list"])
    assert "acme" in listing.stdout
    assert "leads-limit=unlimited" in listing.stdout
    assert "bulk-updates=no" in listing.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--name", "x"], "no workspace"),
        (["acme", "--currency", "euro"], "ISO 4217"),
        (["acme", "--leads-limit", "-1"], "0 or more"),
    ],
)
def test_workspaces_update_refuses_bad_input(
    cli: CliRunner, admin_key: str, args: list[str], message: str
) -> None:
    result = cli.invoke(app, ["workspaces", "update", *args])
    assert result.exit_code != 0
    assert message in result.stderr


def people_add(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(app, ["people", "add", *args])


def test_people_add_and_list(cli: CliRunner, settings: Settings) -> None:
    cli.invoke(app, ["keys", "create", "--workspace", "acme", "--role", "admin"])
    cli.invoke(app, ["keys", "create", "--workspace", "other", "--role", "admin"])
    first = people_add(
        cli, "--workspace", "acme", "--email", "Ada@Example.com", "--name", "Ada", "--role", "agent"
    )
    assert first.exit_code == 0, first.output
    assert "first person is its owner" in first.stdout
    person_id, email, *_, role, availability = first.stdout.strip().splitlines()[-1].split()
    assert (person_id[:4], email, role, availability) == (
        "per_",
        "ada@example.com",
        "owner",
        "offline",
    )
    second = people_add(
        cli,
        "--workspace",
        "acme",
        "--email",
        "bo@example.com",
        "--name",
        "Bo Li",
        "--role",
        "agent",
    )
    assert second.exit_code == 0, second.output
    assert second.stdout.strip().splitlines()[-1].split()[-2:] == ["agent", "offline"]
    people_add(
        cli, "--workspace", "other", "--email", "cy@example.com", "--name", "Cy", "--role", "admin"
    )

    listing = cli.invoke(app, ["people", "list"])
    assert listing.exit_code == 0, listing.output
    lines = listing.stdout.strip().splitlines()
    assert lines[0].split() == ["ID", "WORKSPACE", "EMAIL", "NAME", "ROLE", "AVAILABILITY"]
    assert [line.split()[1:3] for line in lines[1:]] == [
        ["acme", "ada@example.com"],
        ["acme", "bo@example.com"],
        ["other", "cy@example.com"],
    ]
    assert "Bo Li" in lines[2]
    only = cli.invoke(app, ["people", "list", "--workspace", "other"])
    assert [line.split()[2] for line in only.stdout.strip().splitlines()[1:]] == ["cy@example.com"]
    missing = cli.invoke(app, ["people", "list", "--workspace", "nope"])
    assert missing.exit_code == 1
    assert "no workspace 'nope'" in missing.stderr


def test_people_add_makes_a_marketing_person_with_their_pages(
    cli: CliRunner, settings: Settings
) -> None:
    cli.invoke(app, ["keys", "create", "--workspace", "acme", "--role", "admin"])
    people_add(
        cli, "--workspace", "acme", "--email", "ada@example.com", "--name", "Ada", "--role", "owner"
    )
    added = people_add(
        cli,
        *("--workspace", "acme", "--email", "mo@example.com", "--name", "Mo"),
        *("--role", "marketing", "--pages", "overview, Sources"),
    )
    assert added.exit_code == 0, added.output
    assert "Analytics pages: overview, sources" in added.stdout
    [row] = fetch_rows(settings, "SELECT role, pages FROM people WHERE email = 'mo@example.com'")
    assert row["role"] == "marketing"
    assert json.loads(row["pages"]) == ["overview", "sources"]
    # A marketing person holds no token.
    refused = cli.invoke(
        app, ["tokens", "create", "--workspace", "acme", "--person", "mo@example.com"]
    )
    assert refused.exit_code == 1
    assert "holds no token" in refused.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workspace", "nope", "--role", "agent"], "no workspace 'nope'"),
        (["--workspace", "acme", "--role", "integration"], "unknown role 'integration'"),
        (["--workspace", "acme", "--role", "agent", "--pages", "overview"], "only a marketing"),
        (["--workspace", "acme", "--role", "marketing", "--pages", "overview,no"], "unknown"),
        (["--workspace", "acme", "--role", "agent", "--email", "x"], "is not an email address"),
        (["--workspace", "acme", "--role", "agent", "--email", "ADA@example.com"], "already"),
    ],
)
def test_people_add_refuses_bad_input(
    cli: CliRunner, settings: Settings, args: list[str], message: str
) -> None:
    cli.invoke(app, ["keys", "create", "--workspace", "acme", "--role", "admin"])
    people_add(
        cli, "--workspace", "acme", "--email", "ada@example.com", "--name", "Ada", "--role", "owner"
    )
    given = dict(zip(args[::2], args[1::2], strict=True))
    options = {"--email": "new@example.com", "--name": "New", **given}
    result = people_add(cli, *[part for pair in options.items() for part in pair])
    assert result.exit_code == 1
    assert message in result.stderr
    assert [row["email"] for row in fetch_rows(settings, "SELECT email FROM people")] == [
        "ada@example.com"
    ]


def test_tokens_create_prints_the_token_alone_on_the_last_line(
    cli: CliRunner, settings: Settings
) -> None:
    cli.invoke(app, ["keys", "create", "--workspace", "acme", "--role", "admin"])
    people_add(
        cli, "--workspace", "acme", "--email", "ada@example.com", "--name", "Ada", "--role", "owner"
    )
    people_add(
        cli, "--workspace", "acme", "--email", "bo@example.com", "--name", "Bo", "--role", "agent"
    )
    created = cli.invoke(
        app,
        [
            "tokens",
            "create",
            "--workspace",
            "acme",
            "--person",
            "BO@example.com",
            "--name",
            "phone",
        ],
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("ll_")
    assert " " not in token
    assert "bo@example.com (agent)" in created.stdout
    (row,) = fetch_rows(
        settings,
        "SELECT k.name, k.role, p.email FROM api_keys k JOIN people p ON p.id = k.person_id",
    )
    assert (row["name"], row["role"], row["email"]) == ("phone", "agent", "bo@example.com")
    with TestClient(create_app(settings)) as client:
        me = client.get("/api/v1/people/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["data"]["email"] == "bo@example.com"
        # An agent's token gets no further than its role allows on the Octanist API either.
        assert client.get("/api/leads", headers={"X-API-KEY": token}).status_code == 403

    for args, message in (
        (["--workspace", "nope", "--person", "bo@example.com"], "no workspace 'nope'"),
        (["--workspace", "acme", "--person", "cy@example.com"], "no person with email"),
        (["--workspace", "acme", "--person", "not-an-email"], "is not an email address"),
    ):
        refused = cli.invoke(app, ["tokens", "create", *args])
        assert refused.exit_code == 1, args
        assert message in refused.stderr
    assert len(fetch_rows(settings, "SELECT id FROM api_keys WHERE person_id IS NOT NULL")) == 1


def test_workspaces_update_sets_inbox_routing_and_erased_returns(cli: CliRunner) -> None:
    assert (
        cli.invoke(app, ["keys", "create", "--workspace", "acme", "--role", "admin"]).exit_code == 0
    )
    result = cli.invoke(
        app,
        [
            "workspaces",
            "update",
            "acme",
            "--no-auto-assign",
            "--auto-reassign-minutes",
            "15",
            "--erased-returns",
            "refuse",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "auto-assign=no  auto-reassign=15  erased-returns=refuse" in result.stdout
    cleared = cli.invoke(app, ["workspaces", "update", "acme", "--no-auto-reassign"])
    assert "auto-reassign=off" in cleared.stdout
    wrong = cli.invoke(app, ["workspaces", "update", "acme", "--erased-returns", "maybe"])
    assert wrong.exit_code != 0
    assert "accept, refuse" in wrong.output
