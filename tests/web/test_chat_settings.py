"""Settings → Chat widget and Settings → AI replies through the ASGI app: the snippet; identity
verification turned on and off as the CLI does; the identity secret shown only in the answer to
its form, the same the CLI prints, and rotated (the old signature refused, the new one taken);
the assistant's settings saved as ``PATCH /api/v1/assistant`` does, with the provider's key
never shown back; who may (nobody signed out, no request without its CSRF token, no agent or
marketing person); bad values a 400 page that changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import html
import re
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from leadline.cli import app as cli_app
from leadline.config import Settings
from tests.fixtures.factories import fetch_rows, make_key, make_site
from tests.fixtures.leadiosa import bearer
from tests.fixtures.web import (
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
    sign_in,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

OWNER = "owner@example.com"
WIDGET = "/app/settings/widget"
ASSISTANT = "/app/settings/assistant"
PROVIDER_KEY = "sk-local-provider-key-1234567890"
PAGE_ORIGIN = {"Origin": "https://shop.example"}


@pytest.fixture
def owner(client: TestClient, settings: Settings) -> tuple[TestClient, str]:
    make_member(settings, "acme", OWNER, role="owner")
    return client, sign_in(client, OWNER)


def _post(client: TestClient, path: str, csrf: str | None, **data: str) -> httpx.Response:
    body: dict[str, Any] = dict(data)
    if csrf is not None:
        body["csrf_token"] = csrf
    return client.post(path, data=body, follow_redirects=False)


def _shown_secret(page: str) -> str:
    found = re.search(r'id="secret-value"[^>]*value="([0-9a-f]{64})"', page)
    assert found is not None, "no secret on the page"
    return found.group(1)


def _cli_secret(cli: Any) -> str:
    result = cli.invoke(cli_app, ["widget", "secret", "--workspace", "acme"])
    assert result.exit_code == 0, result.output
    return str(result.output.strip())


def _verification(settings: Settings) -> bool:
    rows = fetch_rows(
        settings, "SELECT widget_identity_verification AS v FROM workspaces WHERE slug = 'acme'"
    )
    return bool(rows[0]["v"])


def _identify(client: TestClient, user: str, secret: str) -> int:
    signed = hmac.new(secret.encode(), user.encode(), hashlib.sha256).hexdigest()
    answer = client.post(
        "/widget/v1/acme/identify", json={"id": user, "hash": signed}, headers=PAGE_ORIGIN
    )
    return answer.status_code


def _posts() -> list[tuple[str, dict[str, str]]]:
    return [
        (f"{WIDGET}/verification", {"verification": "on"}),
        (f"{WIDGET}/secret", {}),
        (f"{WIDGET}/secret/rotate", {}),
        (ASSISTANT, {"model": "m", "base_url": "http://127.0.0.1:9/v1"}),
    ]


# ------------------------------------------------------------------------------ who may


def test_nobody_signed_out_no_csrf_no_agent_and_no_marketing_person(
    client: TestClient, settings: Settings
) -> None:
    for path in (WIDGET, ASSISTANT):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/app/signin?next=/app/settings/")
    for path, data in _posts():
        assert _post(client, path, None, **data).status_code == 401, path

    make_member(settings, "acme", OWNER, role="owner")
    sign_in(client, OWNER)
    for path, data in _posts():
        refused = _post(client, path, None, **data)
        assert refused.status_code == 403, path
        assert "form has expired" in refused.text
        assert _post(client, path, "0" * 64, **data).status_code == 403, path

    for role in ("agent", "marketing"):
        client.cookies.clear()
        email = f"{role}@example.com"
        make_member(settings, "acme", email, role=role)
        csrf = sign_in(client, email)
        for path in (WIDGET, ASSISTANT):
            refused = client.get(path)
            assert refused.status_code == 403, (role, path)
            assert "does not open settings" in refused.text
        for path, data in _posts():
            answer = _post(client, path, csrf, **data)
            assert answer.status_code == 403, (role, path)
            assert not re.search(r"[0-9a-f]{64}", answer.text.replace(csrf, ""))
    assert _verification(settings) is False
    assert fetch_rows(settings, "SELECT * FROM assistant_settings") == []
    rows = fetch_rows(settings, "SELECT widget_identity_generation AS g FROM workspaces")
    assert {row["g"] for row in rows} == {0}


# ------------------------------------------------------------------------------ the widget


def test_the_snippet_names_the_workspace_and_the_copy_button_its_field(
    owner: tuple[TestClient, str],
) -> None:
    client, _ = owner
    page = client.get(WIDGET)
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert '<script async src="http://testserver/widget.js" data-workspace="acme"' in text, text
    for attribute in ("data-language", "data-position", "data-theme", "data-open-on-load"):
        assert attribute in text
    assert 'data-copy="widget-snippet"' in page.text
    assert 'id="widget-snippet"' in page.text
    # The secret is not on the page until asked for.
    assert 'id="secret-value"' not in page.text
    assert "/settings/widget" in client.get("/app/settings").text


def test_verification_is_turned_on_and_off_and_audited(
    owner: tuple[TestClient, str], settings: Settings
) -> None:
    client, csrf = owner
    assert "Turn verification on" in client.get(WIDGET).text
    turned = _post(client, f"{WIDGET}/verification", csrf, verification="on")
    assert turned.status_code == 303
    assert turned.headers["location"] == f"{WIDGET}?done=on"
    assert _verification(settings) is True
    page = client.get(turned.headers["location"]).text
    assert "Identity verification is on." in page
    assert 'id="verification-state">on<' in page
    assert _post(client, f"{WIDGET}/verification", csrf, verification="off").status_code == 303
    assert _verification(settings) is False
    audited = fetch_rows(settings, "SELECT action, changes FROM audit_events")
    changes = [
        row
        for row in audited
        if row["action"] == "workspace.updated" and "widget_identity_verification" in row["changes"]
    ]
    assert len(changes) == 2
    for bad in ("", "yes", "ON", "on\x00"):
        answer = _post(client, f"{WIDGET}/verification", csrf, verification=bad)
        assert answer.status_code == 400, bad
    assert _verification(settings) is False


def test_the_secret_is_shown_once_as_the_cli_prints_it_and_rotated(
    owner: tuple[TestClient, str], settings: Settings, cli: Any
) -> None:
    client, csrf = owner
    make_site(settings, "acme", "shop.example")
    _post(client, f"{WIDGET}/verification", csrf, verification="on")
    shown = _post(client, f"{WIDGET}/secret", csrf)
    assert shown.status_code == 200
    first = _shown_secret(shown.text)
    assert first == _cli_secret(cli)
    assert "not shown again" in shown.text
    assert first not in client.get(WIDGET).text
    assert _identify(client, "user-1", first) == 200

    rotated = _post(client, f"{WIDGET}/secret/rotate", csrf)
    assert rotated.status_code == 201
    assert "Your new identity secret" in rotated.text
    second = _shown_secret(rotated.text)
    assert second != first
    assert second == _cli_secret(cli)
    assert first not in client.get(WIDGET).text
    assert second not in client.get(WIDGET).text
    assert "rotated 1 time" in client.get(WIDGET).text
    # A signature made with the old secret is refused; the new one's is taken.
    assert _identify(client, "user-2", first) == 403
    assert _identify(client, "user-2", second) == 200
    # Rotating again gives a third; the secret is never stored.
    third = _shown_secret(_post(client, f"{WIDGET}/secret/rotate", csrf).text)
    assert len({first, second, third}) == 3
    for row in fetch_rows(settings, "SELECT * FROM workspaces"):
        assert all(third not in str(value) for value in row.values())
    audited = fetch_rows(settings, "SELECT action, changes FROM audit_events")
    assert (
        sum(
            row["action"] == "workspace.updated" and "widget_identity_generation" in row["changes"]
            for row in audited
        )
        == 2
    )
    assert all(third not in row["changes"] for row in audited)


# ------------------------------------------------------------------------------ AI replies


def _save(client: TestClient, csrf: str, **fields: str) -> httpx.Response:
    form = {
        "base_url": "http://127.0.0.1:8999/v1",
        "model": "local-model",
        "business_description": "We sell bicycles in Lisbon.",
        "mode": "suggest_drafts",
        "similarity_floor": "0.5",
        "monthly_token_limit": "100000",
        **fields,
    }
    return _post(client, ASSISTANT, csrf, **form)


def test_ai_settings_are_saved_as_the_api_reads_them_and_the_key_never_shown(
    owner: tuple[TestClient, str], settings: Settings
) -> None:
    client, csrf = owner
    page = client.get(ASSISTANT)
    assert page.status_code == 200
    assert 'id="assistant-state">Off<' in page.text
    assert 'id="assistant-key">not set<' in page.text

    saved = _save(client, csrf, api_key=PROVIDER_KEY, enabled="on")
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"{ASSISTANT}?done=saved"
    page = client.get(saved.headers["location"])
    assert "Saved." in page.text
    assert 'id="assistant-state">On<' in page.text
    assert 'id="assistant-key">set<' in page.text
    assert PROVIDER_KEY not in page.text
    assert 'name="api_key"' in page.text
    assert "We sell bicycles in Lisbon." in page.text

    api = client.get("/api/v1/assistant", headers=bearer(make_key(settings, "acme"))).json()
    # (The embeddings provider is its own part of the settings, not on this page.)
    assert api["data"].pop("embeddings")["source"] == "none"
    assert api["data"] == {
        "enabled": True,
        "base_url": "http://127.0.0.1:8999/v1",
        "model": "local-model",
        "has_api_key": True,
        "business_description": "We sell bicycles in Lisbon.",
        "mode": "suggest_drafts",
        "similarity_floor": 0.5,
        "monthly_token_limit": 100000,
        "tokens_this_month": 0,
    }
    [row] = fetch_rows(settings, "SELECT api_key FROM assistant_settings")
    assert row["api_key"]
    assert PROVIDER_KEY not in row["api_key"]

    # An empty key field keeps the key; the limit left empty means none; off is off.
    assert _save(client, csrf, monthly_token_limit="").status_code == 303
    api = client.get("/api/v1/assistant", headers=bearer(make_key(settings, "acme"))).json()
    assert api["data"]["has_api_key"] is True
    assert api["data"]["enabled"] is False
    assert "monthly_token_limit" not in api["data"]
    # Removing it is asked for by name.
    assert _save(client, csrf, remove_key="on").status_code == 303
    assert 'id="assistant-key">not set<' in client.get(ASSISTANT).text


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"mode": "always"}, "mode must be one of"),
        ({"base_url": "ftp://host/v1"}, "base_url must be an http(s) URL"),
        ({"base_url": "", "enabled": "on"}, "needs a base_url and a model"),
        ({"similarity_floor": "lots"}, "similarity_floor must be a number"),
        ({"similarity_floor": "nan"}, "similarity_floor must be between"),
        ({"similarity_floor": "-1"}, "similarity_floor must be between"),
        ({"monthly_token_limit": "1.5"}, "monthly_token_limit must be a whole number"),
        ({"monthly_token_limit": "9" * 12}, "monthly_token_limit must be between"),
        ({"model": "m" * 201}, "model is longer than 200"),
        ({"business_description": "x\x00y"}, "NUL"),
    ],
)
def test_a_bad_ai_setting_is_a_400_page_that_changes_nothing(
    owner: tuple[TestClient, str], settings: Settings, fields: dict[str, str], words: str
) -> None:
    client, csrf = owner
    assert _save(client, csrf, api_key=PROVIDER_KEY).status_code == 303
    before = fetch_rows(settings, "SELECT * FROM assistant_settings")
    refused = _save(client, csrf, api_key="sk-other-key", **fields)
    assert refused.status_code == 400, refused.text
    assert words.lower() in html.unescape(refused.text).lower()
    assert fetch_rows(settings, "SELECT * FROM assistant_settings") == before
