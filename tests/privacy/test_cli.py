"""``leadline privacy erase`` and ``leadline privacy export``; and the audit chain after an
erasure rewrote older events: it verifies, and an edit of a rewritten event is still caught."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadline.cli import app
from leadline.config import Settings
from tests.fixtures.factories import fetch_rows

ADA = {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0000"}


def test_erase_prints_the_receipt(cli: CliRunner, api: TestClient, settings: Settings) -> None:
    assert api.post("/api/leads", json={**ADA, "gclid": "G-ADA"}).status_code == 201
    assert api.post("/api/leads", json={"email": "grace@example.com"}).status_code == 201

    result = cli.invoke(
        app, ["privacy", "erase", "--workspace", "acme", "--email", "ADA@example.com"]
    )

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("erasure era_")
    assert lines[0].endswith("in workspace 'acme'")
    assert "matched: email=A***@example.com" in lines
    assert any(line.split() == ["leads", "1"] for line in lines)
    (receipt,) = fetch_rows(settings, "SELECT id, receipt_hash, actor_type FROM erasures")
    assert lines[-1] == f"receipt hash: {receipt['receipt_hash']}"
    assert receipt["actor_type"] == "cli"
    assert [row["email"] for row in fetch_rows(settings, "SELECT email FROM leads")] == [
        "grace@example.com"
    ]
    # The lead's creation was logged with its click id: rewritten, and the chain verifies.
    assert all(
        "G-ADA" not in row["changes"]
        for row in fetch_rows(settings, "SELECT changes FROM audit_events")
    )
    verified = cli.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "audit chain intact" in verified.output


def test_an_edit_of_a_redacted_event_is_still_caught(
    cli: CliRunner, api: TestClient, settings: Settings
) -> None:
    assert api.post("/api/leads", json={**ADA, "gclid": "G-ADA"}).status_code == 201
    assert (
        cli.invoke(
            app, ["privacy", "erase", "--workspace", "acme", "--email", ADA["email"]]
        ).exit_code
        == 0
    )
    (redaction,) = fetch_rows(
        settings, "SELECT changes FROM audit_events WHERE action = 'audit.redacted'"
    )
    (rewritten,) = json.loads(redaction["changes"])["events"]["after"]
    from sqlalchemy import create_engine, text

    engine = create_engine(settings.sync_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_events SET action = 'lead.deleted' WHERE id = :id"),
            {"id": rewritten},
        )
    engine.dispose()
    verified = cli.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 1
    assert rewritten in verified.output
    assert "was edited" in verified.output


def test_erase_needs_a_person_and_a_workspace(cli: CliRunner) -> None:
    nobody = cli.invoke(app, ["privacy", "erase", "--workspace", "acme"])
    assert nobody.exit_code == 1
    assert "--email" in nobody.output
    missing = cli.invoke(app, ["privacy", "erase", "--workspace", "nope", "--email", "a@b.example"])
    assert missing.exit_code == 1


def test_export_writes_json_or_html(
    cli: CliRunner, api: TestClient, settings: Settings, tmp_path: Path
) -> None:
    assert api.post("/api/leads", json=ADA).status_code == 201
    printed = cli.invoke(
        app, ["privacy", "export", "--workspace", "acme", "--phone", "+442079460000"]
    )
    assert printed.exit_code == 0, printed.output
    document = json.loads(printed.stdout)
    assert [lead["name"] for lead in document["tables"]["leads"]] == ["Ada Lovelace"]

    page = tmp_path / "ada.html"
    written = cli.invoke(
        app,
        [
            "privacy",
            "export",
            "--workspace",
            "acme",
            "--email",
            ADA["email"],
            "--format",
            "html",
            "--output",
            str(page),
        ],
    )
    assert written.exit_code == 0, written.output
    assert "<h2>leads</h2>" in page.read_text()
    assert "Ada Lovelace" in page.read_text()
    actions = [row["action"] for row in fetch_rows(settings, "SELECT action FROM audit_events")]
    assert actions.count("person.exported") == 2

    bad = tmp_path / "bad.pdf"
    refused = cli.invoke(
        app,
        [
            "privacy",
            "export",
            "--workspace",
            "acme",
            "--email",
            ADA["email"],
            "--format",
            "pdf",
            "--output",
            str(bad),
        ],
    )
    assert refused.exit_code == 1
    assert "format must be one of" in refused.output
    assert not bad.exists()
