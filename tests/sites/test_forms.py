"""Forms of a site: definitions checked when saved (CLI), and GET /forms/config answering only
pages on the site's domains, each denial logged with its reason."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadline.cli import app
from leadline.config import Settings
from leadline.errors import ValidationFailed
from leadline.sites.schemas import parse_definition
from tests.fixtures.factories import fetch_rows, make_site

ENQUIRY: dict[str, Any] = {
    "title": "Ask about a flat",
    "fields": [
        {"name": "FIRSTNAME", "type": "text", "label": "Your name", "required": True},
        {"name": "EMAIL", "type": "email", "label": "Email", "required": True},
        {"name": "PHONE", "type": "tel", "label": "Phone", "pattern": "[0-9 +()-]{6,20}"},
        {
            "name": "PROJECT",
            "type": "select",
            "label": "Project",
            "options": ["Riverside", {"value": "hill", "label": "Hill View"}],
        },
        {"name": "USER_MESSAGE", "type": "textarea", "label": "Message", "max_length": 2000},
        {"name": "SOURCE", "type": "hidden", "value": "WebSite"},
    ],
    "submit_label": "Send enquiry",
    "thank_you_url": "https://shop.example/thanks",
    "consent_text": "I agree to be contacted about this enquiry.",
}
PAGE = {"Origin": "https://shop.example"}


def create_form(
    cli: CliRunner, tmp_path: Path, site: str, form: Any, form_id: str = "enquiry"
) -> Any:
    path = tmp_path / f"{form_id}.json"
    path.write_text(form if isinstance(form, str) else json.dumps(form))
    return cli.invoke(
        app, ["forms", "create", "--site", site, "--form-id", form_id, "--file", str(path)]
    )


def test_a_form_is_created_listed_and_audited(
    cli: CliRunner, settings: Settings, tmp_path: Path
) -> None:
    site = make_site(settings, "acme", "shop.example")
    created = create_form(cli, tmp_path, site, ENQUIRY)
    assert created.exit_code == 0, created.output
    assert "Created form enquiry (Ask about a flat)" in created.output
    listed = cli.invoke(app, ["forms", "list", "--site", site])
    assert listed.output.strip() == "enquiry  Ask about a flat  enabled  6 fields"
    (event,) = fetch_rows(settings, "SELECT action FROM audit_events WHERE action = 'form.created'")
    assert event["action"] == "form.created"

    again = create_form(cli, tmp_path, site, ENQUIRY)
    assert again.exit_code == 1
    assert "already has a form enquiry" in again.output
    unknown = create_form(cli, tmp_path, "pk_live_NOPE", ENQUIRY)
    assert unknown.exit_code == 1
    assert "no site has the key pk_live_NOPE" in unknown.output
    missing = cli.invoke(
        app, ["forms", "create", "--site", site, "--form-id", "x", "--file", str(tmp_path / "no")]
    )
    assert missing.exit_code == 1
    assert "cannot read" in missing.output


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ("{not json", "not valid JSON"),
        ({"fields": []}, "form_json: Expected `array` of length >= 1"),
        ({"fields": [{"name": "a", "type": "radio", "label": "A"}]}, "Invalid enum value 'radio'"),
        ({"fields": [{"name": "a", "label": "A", "colour": "red"}]}, "unknown field `colour`"),
        ({"fields": [{"name": "a", "label": "A"}, {"name": "A", "label": "B"}]}, "used twice"),
        ({"fields": [{"name": "__pg_hp", "label": "A"}]}, "at `$.fields[0].name`"),
        ({"fields": [{"name": "octa_sid", "label": "A"}]}, "reserved"),
        ({"fields": [{"name": "p", "type": "select", "label": "P"}]}, "needs options"),
        ({"fields": [{"name": "p", "label": "P", "options": ["x"]}]}, "only a select field"),
        ({"fields": [{"name": "p", "type": "email"}]}, "needs a label"),
        ({"fields": [{"name": "p", "label": "P", "pattern": "(["}]}, "not a regular expression"),
        ({"fields": [{"name": "p", "label": "P"}], "thank_you_url": "javascript:x"}, "http(s) URL"),
    ],
)
def test_a_bad_definition_says_what_is_wrong(definition: Any, message: str) -> None:
    text = definition if isinstance(definition, str) else json.dumps(definition)
    with pytest.raises(ValidationFailed) as refused:
        parse_definition(text)
    assert message in refused.value.message


def test_a_bad_definition_is_refused_by_the_cli(
    cli: CliRunner, settings: Settings, tmp_path: Path
) -> None:
    site = make_site(settings, "acme", "shop.example")
    refused = create_form(
        cli, tmp_path, site, {"fields": [{"name": "p", "type": "select", "label": "P"}]}
    )
    assert refused.exit_code == 1
    assert "form_json.fields[0]: a select field needs options" in refused.output
    (row,) = fetch_rows(settings, "SELECT count(*) AS n FROM site_forms")
    assert row["n"] == 0


def test_the_config_is_served_to_the_sites_pages_only(
    client: TestClient,
    cli: CliRunner,
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    site = make_site(settings, "acme", "shop.example", "*.shop.example")
    assert create_form(cli, tmp_path, site, ENQUIRY).exit_code == 0
    query = {"siteKey": site, "formId": "enquiry"}

    answer = client.get("/forms/config", params=query, headers=PAGE)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "Origin" in answer.headers["vary"]
    body = answer.json()
    assert (body["site_key"], body["form_id"], body["name"]) == (
        site,
        "enquiry",
        "Ask about a flat",
    )
    form = body["form_json"]
    assert [field["name"] for field in form["fields"]][:2] == ["FIRSTNAME", "EMAIL"]
    assert form["submit_label"] == "Send enquiry"
    assert form["fields"][3]["options"][1] == {"value": "hill", "label": "Hill View"}
    # A page of a subdomain, named by its Referer alone.
    referred = client.get(
        "/forms/config", params=query, headers={"Referer": "https://blog.shop.example/post"}
    )
    assert referred.status_code == 200

    caplog.set_level(logging.WARNING, logger="leadline.sites.service")
    denials = [
        (query, {"Origin": "https://evil.example"}, "hostname_not_in_site_domains"),
        (query, {}, "missing_origin_referer"),
        ({"siteKey": "pk_live_NOPE", "formId": "enquiry"}, PAGE, "site_not_found"),
        ({"formId": "enquiry"}, PAGE, "empty_site_key"),
    ]
    for params, headers, reason in denials:
        denied = client.get("/forms/config", params=params, headers=headers)
        assert denied.status_code == 403, (reason, denied.text)
        assert set(denied.json()) == {"error"}
        assert denied.headers["access-control-allow-origin"] == "*"
        assert f"domain_validation_denied reason={reason}" in caplog.text

    missing = client.get("/forms/config", params={"siteKey": site, "formId": "other"}, headers=PAGE)
    assert missing.status_code == 404
    assert missing.json() == {"error": "the site has no form other"}
    preflight = client.options(
        "/forms/config", headers={**PAGE, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-max-age"] == "86400"


def test_a_new_site_gets_a_pulsegate_style_key_and_old_keys_keep_working(
    client: TestClient, settings: Settings
) -> None:
    site = make_site(settings, "acme", "shop.example")
    assert site.startswith("pk_live_")
    from tests.fixtures.factories import run_in_transaction

    async def old_key(session: Any) -> None:
        from sqlalchemy import update

        from leadline.models import Site

        await session.execute(update(Site).values(site_key="LL-7K3M9Q2XWDAB"))

    run_in_transaction(settings, old_key)
    started = client.post(
        "/track/session/start",
        json={"siteKey": "LL-7K3M9Q2XWDAB", "url": "https://shop.example/"},
        headers={**PAGE, "User-Agent": "Mozilla/5.0"},
    )
    assert started.status_code == 200, started.text
