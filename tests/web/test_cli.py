"""The command line's part in signing in: `leadline serve` prints the one-time setup link while
no one has an account, and `leadline people add --password-stdin` makes someone who can sign
in at once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadline.cli import app
from leadline.config import Settings
from leadline.migrations import upgrade
from tests.fixtures.factories import fetch_rows
from tests.fixtures.server import free_port, wait_until_up
from tests.fixtures.web import (
    PASSWORD,
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
    sign_in,
)

SETUP_URL = re.compile(r"^http://127\.0\.0\.1:(\d+)/app/setup\?token=([0-9a-f]{64})$")


@pytest.fixture
def own(settings: Settings, tmp_path: Path) -> Settings:
    """On SQLite, a database of the test's own for the ``leadline serve`` it starts, rather
    than the file the rest of the session (and its long-running server) shares; on
    PostgreSQL, the session's."""
    if not settings.database_url.startswith("sqlite"):
        return settings
    own_settings = Settings(database_url=f"sqlite:///{tmp_path / 'serve.db'}")
    upgrade(own_settings)
    return own_settings


def _serve(settings: Settings, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "LEADLINE_DATABASE_URL": settings.database_url}
    return subprocess.Popen(
        [sys.executable, "-m", "leadline.cli", "serve", "--port", str(port), "--no-worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _setup_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    for _ in range(10):
        line = proc.stdout.readline().strip()
        if SETUP_URL.match(line):
            return line
    raise AssertionError("leadline serve printed no setup link")


def test_serve_prints_a_one_time_setup_link_while_no_one_has_an_account(own: Settings) -> None:
    settings = own
    port = free_port()
    proc = _serve(settings, port)
    try:
        url = _setup_url(proc)
        wait_until_up(f"http://127.0.0.1:{port}", proc)  # type: ignore[arg-type]
        page = httpx.get(url)
        assert page.status_code == 200
        assert "Create the owner account" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    [link] = fetch_rows(settings, "SELECT token_hash FROM one_time_links")
    assert url.rsplit("=", 1)[1] not in link["token_hash"]


def test_serve_prints_no_setup_link_once_someone_has_an_account(own: Settings) -> None:
    settings = own
    make_member(settings, "default", "owner@example.com", role="owner")
    port = free_port()
    proc = _serve(settings, port)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", proc)  # type: ignore[arg-type]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "/app/setup" not in out


@pytest.mark.usefixtures("cheap_hashing")
def test_people_add_with_a_password_from_stdin_can_sign_in(
    cli: CliRunner, client: TestClient, settings: Settings
) -> None:
    make_member(settings, "acme", "owner@example.com", role="owner")
    added = cli.invoke(
        app,
        [
            "people",
            "add",
            "--workspace",
            "acme",
            "--email",
            "Agent@Example.com",
            "--name",
            "Agnes",
            "--role",
            "agent",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert added.exit_code == 0, added.output
    assert "can sign in" in added.output
    sign_in(client, "agent@example.com", PASSWORD)
    assert "Welcome, Agnes" in client.get("/app/").text


def test_people_add_refuses_a_short_password_and_adds_no_one(
    cli: CliRunner, settings: Settings
) -> None:
    make_member(settings, "acme", "owner@example.com", role="owner")
    refused = cli.invoke(
        app,
        [
            "people",
            "add",
            "--workspace",
            "acme",
            "--email",
            "agent@example.com",
            "--name",
            "Agnes",
            "--role",
            "agent",
            "--password-stdin",
        ],
        input="short\n",
    )
    assert refused.exit_code == 1
    assert "at least 10 characters" in refused.output
    assert len(fetch_rows(settings, "SELECT id FROM people")) == 1
