"""PulseGate's management routes: sites and their domains, forms and integration keys, for admin
keys only, each workspace seeing only its own, every change audited."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from tests.fixtures.factories import fetch_rows, make_key, make_site

FORM: dict[str, Any] = {
    "title": "Enquiry",
    "fields": [
        {"name": "FIRSTNAME", "label": "Name", "required": True},
        {"name": "EMAIL", "type": "email", "label": "Email"},
    ],
    "thank_you_message": "Thanks!",
}


@pytest.fixture
def admin(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(settings, 'acme', 'admin')}"}


def new_site(client: TestClient, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    answer = client.post("/analytics/sites", json=body, headers=admin)
    assert answer.status_code == 201, answer.text
    site: dict[str, Any] = answer.json()["site"]
    return site


def new_form(client: TestClient, admin: dict[str, str], site_id: str) -> dict[str, Any]:
    answer = client.post(
        "/analytics/forms",
        json={"site_id": site_id, "form_id": "enquiry", "form_json": FORM},
        headers=admin,
    )
    assert answer.status_code == 201, answer.text
    form: dict[str, Any] = answer.json()["form"]
    return form


def config(client: TestClient, site_key: str, host: str, form_id: str = "enquiry") -> Any:
    return client.get(
        "/forms/config",
        params={"siteKey": site_key, "formId": form_id},
        headers={"Origin": f"https://{host}"},
    )


def test_only_admin_keys_manage(client: TestClient, settings: Settings) -> None:
    missing = client.get("/analytics/sites")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in missing.json()["error"]
    wrong = client.get("/analytics/sites", headers={"X-API-Key": "ll_not_a_key"})
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "invalid or revoked API key"}
    for role in ("marketing", "integration"):
        key = make_key(settings, "acme", role)
        refused = client.get("/analytics/forms", headers={"X-API-Key": key})
        assert refused.status_code == 403, role
        assert f"role ({role})" in refused.json()["error"]
    admin = make_key(settings, "acme", "admin")
    assert client.get("/analytics/sites", headers={"X-API-Key": admin}).status_code == 200
    assert client.get("/analytics/sites", headers={"Authorization": f"bearer {admin}"}).json() == {
        "sites": []
    }


def test_preflight_and_methods(client: TestClient, admin: dict[str, str]) -> None:
    preflight = client.options(
        "/analytics/sites/site_x/domains",
        headers={"Origin": "https://dash.example", "Access-Control-Request-Method": "PATCH"},
    )
    assert preflight.status_code == 204
    assert "PATCH" in preflight.headers["access-control-allow-methods"]
    assert "DELETE" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert client.options("/analytics/overview").status_code == 204
    put = client.put("/analytics/sites", json={}, headers=admin)
    assert put.status_code == 405
    assert put.headers["allow"] == "GET, POST, OPTIONS"
    assert put.json() == {"error": "PUT is not allowed here; use GET, POST, OPTIONS"}


def test_sites_are_created_listed_changed_and_deleted(
    client: TestClient, settings: Settings, admin: dict[str, str]
) -> None:
    made = new_site(client, admin)
    assert made["site_key"].startswith("pk_live_")
    assert len(made["site_key"]) == 28
    assert made["domains"] == []
    kept = new_site(
        client,
        admin,
        name="Shop",
        site_key="pk_live_FROMPULSEGATE1",
        domains=["https://Shop.Example/", "*.shop.example"],
        respect_gpc=True,
    )
    assert kept["site_key"] == "pk_live_FROMPULSEGATE1"
    assert [row["domain"] for row in kept["domains"]] == ["*.shop.example", "shop.example"]
    assert kept["respect_gpc"] is True
    assert kept["respect_dnt"] is False
    listed = client.get("/analytics/sites", headers=admin).json()["sites"]
    assert [site["id"] for site in listed] == [made["id"], kept["id"]]
    assert client.get(f"/analytics/sites/{kept['id']}", headers=admin).json()["site"] == kept

    patched = client.patch(
        f"/analytics/sites/{kept['id']}",
        json={"name": "  The shop ", "fingerprinting": True},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["site"]["name"] == "The shop"
    assert patched.json()["site"]["fingerprinting"] is True
    assert patched.json()["site"]["respect_gpc"] is True  # untouched

    taken = client.post(
        "/analytics/sites", json={"site_key": "pk_live_FROMPULSEGATE1"}, headers=admin
    )
    assert taken.status_code == 409
    assert "is taken" in taken.json()["error"]

    deleted = client.delete(f"/analytics/sites/{kept['id']}", headers=admin)
    assert deleted.json() == {"deleted": True, "id": kept["id"]}
    assert client.get(f"/analytics/sites/{kept['id']}", headers=admin).status_code == 404
    assert [
        site["id"] for site in client.get("/analytics/sites", headers=admin).json()["sites"]
    ] == [made["id"]]
    # The row stays (its visits and leads point at it) and its key is never given again.
    (row,) = fetch_rows(settings, "SELECT deleted_at FROM sites WHERE id = :id", id=kept["id"])
    assert row["deleted_at"] is not None
    again = client.post(
        "/analytics/sites", json={"site_key": "pk_live_FROMPULSEGATE1"}, headers=admin
    )
    assert again.status_code == 409
    assert config(client, "pk_live_FROMPULSEGATE1", "shop.example").status_code == 403
    actions = [
        row["action"]
        for row in fetch_rows(
            settings,
            "SELECT action FROM audit_events WHERE target_id = :id ORDER BY seq",
            id=kept["id"],
        )
    ]
    assert actions == ["site.created", "site.updated", "site.deleted"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{", "the body is not valid JSON"),
        ("[]", "invalid body: Expected `object`, got `array`"),
        ("", "send a JSON object"),
        ('{"name": "a\\u0000b"}', "the body contains a NUL character"),
        ('{"name": 5}', "invalid body: Expected `str | null`, got `int` - at `$.name`"),
        ('{"colour": "red"}', "invalid body: Object contains unknown field `colour`"),
        ('{"site_key": "short"}', "'short' is not a site key"),
        ('{"domains": ["not a host"]}', "'not a host' is not a domain"),
        ('{"name": "' + "x" * 201 + '"}', "invalid body: Expected `str` of length <= 200"),
    ],
)
def test_bad_site_bodies_are_refused_and_nothing_is_made(
    client: TestClient, settings: Settings, admin: dict[str, str], body: str, message: str
) -> None:
    answer = client.post(
        "/analytics/sites", content=body, headers={**admin, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(message)
    assert fetch_rows(settings, "SELECT id FROM sites") == []


def test_a_site_patch_is_checked(client: TestClient, admin: dict[str, str]) -> None:
    site = new_site(client, admin, name="Shop")
    for body, message in (
        ({"name": ""}, "a site's name is 1-200 characters"),
        ({"site_key": "pk_live_OTHER12345"}, "unknown field `site_key`"),
        ({"respect_dnt": "yes"}, "Expected `bool"),
    ):
        answer = client.patch(f"/analytics/sites/{site['id']}", json=body, headers=admin)
        assert answer.status_code == 400, body
        assert message in answer.json()["error"]
    unchanged = client.get(f"/analytics/sites/{site['id']}", headers=admin).json()["site"]
    assert unchanged == site
    assert client.patch("/analytics/sites/site_nope", json={}, headers=admin).status_code == 404


def test_domains_decide_which_pages_are_served(
    client: TestClient, settings: Settings, admin: dict[str, str]
) -> None:
    site = new_site(client, admin, domains=["shop.example"])
    new_form(client, admin, site["id"])
    assert config(client, site["site_key"], "blog.example").status_code == 403

    added = client.post(
        f"/analytics/sites/{site['id']}/domains", json={"domain": "Blog.Example"}, headers=admin
    )
    assert added.status_code == 201, added.text
    domain = added.json()["domain"]
    assert domain["domain"] == "blog.example"
    assert config(client, site["site_key"], "blog.example").status_code == 200
    twice = client.post(
        f"/analytics/sites/{site['id']}/domains", json={"domain": "blog.example"}, headers=admin
    )
    assert twice.status_code == 409
    bad = client.post(
        f"/analytics/sites/{site['id']}/domains", json={"domain": "a b"}, headers=admin
    )
    assert bad.status_code == 400
    assert client.post(f"/analytics/sites/{site['id']}/domains", json={}, headers=admin).json() == {
        "error": "invalid body: Object missing required field `domain`"
    }
    listed = client.get(f"/analytics/sites/{site['id']}/domains", headers=admin).json()["domains"]
    assert [row["domain"] for row in listed] == ["blog.example", "shop.example"]

    removed = client.delete(f"/analytics/sites/{site['id']}/domains/{domain['id']}", headers=admin)
    assert removed.json() == {"deleted": True, "id": domain["id"]}
    assert config(client, site["site_key"], "blog.example").status_code == 403
    assert config(client, site["site_key"], "shop.example").status_code == 200
    gone = client.delete(f"/analytics/sites/{site['id']}/domains/{domain['id']}", headers=admin)
    assert gone.status_code == 404
    assert gone.json() == {"error": f"the site has no domain {domain['id']}"}


def test_forms_are_created_listed_changed_and_deleted(
    client: TestClient, settings: Settings, admin: dict[str, str]
) -> None:
    site = new_site(client, admin, domains=["shop.example"])
    other = new_site(client, admin, domains=["blog.example"])
    created = client.post(
        "/analytics/forms",
        json={"site_id": site["id"], "form_id": "enquiry", "name": "Main", "form_json": FORM},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    form = created.json()["form"]
    assert form["form_json"]["fields"][0]["name"] == "FIRSTNAME"
    assert form["name"] == "Main"
    assert form["enabled"] is True
    # form_json may also come as a string holding the definition.
    second = client.post(
        "/analytics/forms",
        json={"site_id": other["id"], "form_id": "enquiry", "form_json": json.dumps(FORM)},
        headers=admin,
    )
    assert second.status_code == 201, second.text
    assert second.json()["form"]["name"] == "Enquiry"  # the definition's title

    everything = client.get("/analytics/forms", headers=admin).json()["forms"]
    assert [row["site_id"] for row in everything] == [site["id"], other["id"]]
    one_site = client.get("/analytics/forms", params={"site_id": site["id"]}, headers=admin)
    assert [row["id"] for row in one_site.json()["forms"]] == [form["id"]]
    unknown_site = client.get("/analytics/forms", params={"site_id": "site_nope"}, headers=admin)
    assert unknown_site.status_code == 404
    assert client.get(f"/analytics/forms/{form['id']}", headers=admin).json()["form"] == form

    off = client.patch(f"/analytics/forms/{form['id']}", json={"enabled": False}, headers=admin)
    assert off.json()["form"]["enabled"] is False
    assert config(client, site["site_key"], "shop.example").status_code == 404
    changed = client.patch(
        f"/analytics/forms/{form['id']}",
        json={
            "enabled": True,
            "name": "Renamed",
            "form_json": {**FORM, "submit_label": "Go"},
        },
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    served = config(client, site["site_key"], "shop.example")
    assert served.json()["name"] == "Renamed"
    assert served.json()["form_json"]["submit_label"] == "Go"

    broken = client.patch(
        f"/analytics/forms/{form['id']}", json={"form_json": {"fields": []}}, headers=admin
    )
    assert broken.status_code == 400
    assert broken.json()["error"].startswith("form_json")
    assert (
        config(client, site["site_key"], "shop.example").json()["form_json"]["submit_label"] == "Go"
    )

    deleted = client.delete(f"/analytics/forms/{form['id']}", headers=admin)
    assert deleted.json() == {"deleted": True, "id": form["id"]}
    assert client.get(f"/analytics/forms/{form['id']}", headers=admin).status_code == 404
    assert config(client, site["site_key"], "shop.example").status_code == 404
    actions = [
        row["action"]
        for row in fetch_rows(
            settings,
            "SELECT action FROM audit_events WHERE target_id = :id ORDER BY seq",
            id=form["id"],
        )
    ]
    assert actions == ["form.created", "form.updated", "form.updated", "form.deleted"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"form_id": "enquiry", "form_json": FORM}, 400, "Object missing required field `site_id`"),
        (
            {"site_id": "site_nope", "form_id": "enquiry", "form_json": FORM},
            404,
            "no site site_nope",
        ),
        ({"site_id": "SITE", "form_id": "bad id!", "form_json": FORM}, 400, "is not a form id"),
        (
            {"site_id": "SITE", "form_id": "enquiry", "form_json": "{nope"},
            400,
            "form_json is not valid JSON",
        ),
        ({"site_id": "SITE", "form_id": "enquiry", "form_json": None}, 400, "form_json"),
        ({"site_id": "SITE", "form_id": "enquiry", "form_json": {"fields": "x"}}, 400, "form_json"),
    ],
)
def test_bad_form_bodies_are_refused(
    client: TestClient,
    settings: Settings,
    admin: dict[str, str],
    body: dict[str, Any],
    status: int,
    message: str,
) -> None:
    site = new_site(client, admin, domains=["shop.example"])
    if body.get("site_id") == "SITE":
        body = {**body, "site_id": site["id"]}
    answer = client.post("/analytics/forms", json=body, headers=admin)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    assert fetch_rows(settings, "SELECT id FROM site_forms") == []


def test_integration_keys_are_shown_once_and_revoked(
    client: TestClient, settings: Settings, admin: dict[str, str]
) -> None:
    created = client.post("/analytics/integrations", json={"name": "Backend"}, headers=admin)
    assert created.status_code == 201, created.text
    token = created.json()["api_key"]
    integration = created.json()["integration"]
    assert integration["api_key"] == token
    assert integration["name"] == "Backend"
    unnamed = client.post("/analytics/integrations", headers=admin)
    assert unnamed.status_code == 201
    assert unnamed.json()["integration"]["name"] == "integration key"

    listed = client.get("/analytics/integrations", headers=admin)
    assert token not in listed.text
    rows = listed.json()["integrations"]
    assert [row["name"] for row in rows] == ["Backend", "integration key"]
    assert rows[0]["api_key"].endswith("…")
    assert token.startswith(rows[0]["api_key"][:-1])
    assert rows[0]["active"] is True
    shown = client.get(f"/analytics/integrations/{integration['id']}", headers=admin)
    assert token not in shown.text
    # The admin key itself is not an integration.
    (admin_row,) = fetch_rows(settings, "SELECT id FROM api_keys WHERE role = 'admin'")
    assert (
        client.get(f"/analytics/integrations/{admin_row['id']}", headers=admin).status_code == 404
    )

    sent = client.post(
        "/lead.capture", json={"EMAIL": "api@example.com"}, headers={"X-API-Key": token}
    )
    assert sent.status_code == 200, sent.text
    revoked = client.delete(f"/analytics/integrations/{integration['id']}", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["integration"]["active"] is False
    refused = client.post(
        "/lead.capture", json={"EMAIL": "api@example.com"}, headers={"X-API-Key": token}
    )
    assert refused.status_code == 401
    again = client.delete(f"/analytics/integrations/{integration['id']}", headers=admin)
    assert again.status_code == 200
    assert again.json()["integration"]["revoked_at"] == revoked.json()["integration"]["revoked_at"]
    assert (
        client.post("/analytics/integrations", json={"role": "admin"}, headers=admin).status_code
        == 400
    )
    (key_row,) = fetch_rows(
        settings, "SELECT key_hash FROM api_keys WHERE id = :id", id=integration["id"]
    )
    assert key_row["key_hash"] != token


def test_a_workspace_sees_only_its_own(
    client: TestClient, settings: Settings, admin: dict[str, str]
) -> None:
    site = new_site(client, admin, domains=["shop.example"])
    form = new_form(client, admin, site["id"])
    integration = client.post("/analytics/integrations", headers=admin).json()["integration"]
    domain_id = site["domains"][0]["id"]
    rival = {"X-API-Key": make_key(settings, "rival", "admin")}
    make_site(settings, "rival", "rival.example")

    assert [
        row["site_key"] for row in client.get("/analytics/sites", headers=rival).json()["sites"]
    ] != [site["site_key"]]
    for method, path in (
        ("GET", f"/analytics/sites/{site['id']}"),
        ("PATCH", f"/analytics/sites/{site['id']}"),
        ("DELETE", f"/analytics/sites/{site['id']}"),
        ("GET", f"/analytics/sites/{site['id']}/domains"),
        ("DELETE", f"/analytics/sites/{site['id']}/domains/{domain_id}"),
        ("GET", f"/analytics/forms/{form['id']}"),
        ("PATCH", f"/analytics/forms/{form['id']}"),
        ("DELETE", f"/analytics/forms/{form['id']}"),
        ("GET", f"/analytics/integrations/{integration['id']}"),
        ("DELETE", f"/analytics/integrations/{integration['id']}"),
    ):
        answer = client.request(
            method, path, json={"name": "x"} if method == "PATCH" else None, headers=rival
        )
        assert answer.status_code == 404, (method, path, answer.text)
    assert client.get("/analytics/forms", headers=rival).json() == {"forms": []}
    assert client.get("/analytics/integrations", headers=rival).json() == {"integrations": []}
    refused = client.post(
        "/analytics/forms",
        json={"site_id": site["id"], "form_id": "other", "form_json": FORM},
        headers=rival,
    )
    assert refused.status_code == 404
    # Nothing of acme's changed.
    assert client.get(f"/analytics/sites/{site['id']}", headers=admin).json()["site"] == site
    assert client.get(f"/analytics/integrations/{integration['id']}", headers=admin).json()[
        "integration"
    ]["active"]


def test_a_nul_in_an_id_or_key_is_not_found(
    client: TestClient, admin: dict[str, str], settings: Settings
) -> None:
    # PostgreSQL cannot compare text with NUL in it: looked up, it failed the request with a 500.
    site = new_site(client, admin, domains=["shop.example"])
    new_form(client, admin, site["id"])
    for method, path in (
        ("GET", "/analytics/sites/%00"),
        ("DELETE", f"/analytics/sites/{site['id']}/domains/%00"),
        ("GET", "/analytics/forms/%00"),
        ("GET", "/analytics/integrations/%00"),
    ):
        answer = client.request(method, path, headers=admin)
        assert answer.status_code == 404, (path, answer.text)
    # In a query string a NUL is refused before any route reads it, naming the parameter.
    listed = client.get("/analytics/forms?site_id=%00", headers=admin)
    assert listed.status_code == 400
    assert listed.json() == {
        "error": "site_id contains a NUL character (%00), which cannot be stored"
    }
    assert config(client, site["site_key"], "shop.example", "enq\x00uiry").status_code == 400
    assert config(client, "pk\x00", "shop.example").status_code == 400
    # Form data holding a NUL is refused like a JSON body's, whichever field has it.
    key = make_key(settings, "acme", "integration")
    for data in (
        {"siteKey": site["site_key"], "formId": "enq\x00", "email": "ada@example.com"},
        {"email": "ada\x00@example.com"},
        {"__visitor_id": "v\x00", "email": "ada@example.com"},
    ):
        captured = client.post(
            "/lead.capture", data=data, headers={"X-API-Key": key, "Accept": "application/json"}
        )
        assert captured.status_code == 400, captured.text
        assert "NUL" in captured.json()["error"]
