"""``leadline billing show``: the plan, the cycle and the usage of a workspace at the command
line."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadline.billing.service import cycle_of
from leadline.cli import app
from leadline.config import get_settings
from leadline.kit.time import utcnow


def test_billing_show(cli: CliRunner, api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("Ada", "Bo"):
        assert api.post("/api/leads", json={"name": name}).status_code == 201
    monkeypatch.setenv("LEADLINE_BILLING_PLAN", "Agency")
    monkeypatch.setenv("LEADLINE_BILLING_CYCLE_DAY", "15")
    monkeypatch.setenv("LEADLINE_BILLING_LIMIT_LEADS", "100")
    get_settings.cache_clear()
    before = utcnow().date()

    result = cli.invoke(app, ["billing", "show", "--workspace", "acme"])

    assert result.exit_code == 0, result.output
    first, *items = result.stdout.strip().splitlines()
    cycles = {cycle_of(day, 15) for day in (before, utcnow().date())}
    assert first in {
        f"plan Agency (provider none); cycle {c.start.isoformat()} to {c.end.isoformat()}"
        " (starts on day 15)"
        for c in cycles
    }
    assert [line.split() for line in items] == [
        ["conversations", "0"],
        ["messages", "0"],
        ["ai_tokens", "0"],
        ["leads", "2", "of", "100"],
        ["events", "0"],
    ]


def test_billing_show_of_no_workspace(cli: CliRunner) -> None:
    result = cli.invoke(app, ["billing", "show", "--workspace", "nope"])
    assert result.exit_code == 1
    assert "no workspace 'nope'" in result.stderr
