"""The site settings pages through the ASGI app: sites and domains (seen by the tracker), the
snippet and "tracking seen", forms and their preview, webhooks and their delivery log, the
address lists, consent and retention; and who may open them: nobody signed out, no request
without its CSRF token, no agent, nobody reaching another workspace's objects. Bad input
gets a 400 page that says what is wrong, and changes nothing."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.web.site_settings import ago
from leadline.webhooks import service as webhooks
from leadline.workspaces import service as workspaces
from tests.fixtures.factories import (
    execute_sql,
    fetch_rows,
    make_form,
    make_site,
    run_in_transaction,
)
from tests.fixtures.web import (
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
    sign_in,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

OWNER = "owner@example.com"
CONTACT_FORM = {
    "title": "Ask us",
    "fields": [{"name": "EMAIL", "type": "email", "label": "Email", "required": True}],
}
HOOK_URL = "https://1.1.1.1/hooks"  # a public address: no name to look up


@dataclass(frozen=True)
class Objects:
    """A workspace's site (with a domain and a form), webhook endpoint and delivery."""

    site: str
    site_key: str
    domain: str
    form: str
    endpoint: str
    delivery: str


def _objects(settings: Settings, workspace: str, host: str) -> Objects:
    key = make_site(settings, workspace, host)
    make_form(settings, key, CONTACT_FORM)
    [site] = fetch_rows(settings, "SELECT id FROM sites WHERE site_key = :key", key=key)
    [domain] = fetch_rows(
        settings, "SELECT id FROM site_domains WHERE site_id = :site", site=site["id"]
    )
    [form] = fetch_rows(
        settings, "SELECT id FROM site_forms WHERE site_id = :site", site=site["id"]
    )

    async def hook(session: AsyncSession) -> tuple[str, str]:
        ws = await workspaces.require(session, workspace)
        principal = _principal(ws)
        created = await webhooks.create_endpoint(session, principal, settings, url=HOOK_URL)
        delivery = await webhooks.send_test(session, principal, created.endpoint.id)
        return created.endpoint.id, delivery.id

    endpoint, delivery = run_in_transaction(settings, hook)
    execute_sql(
        settings, "UPDATE webhook_deliveries SET state = 'failed' WHERE id = :id", id=delivery
    )
    return Objects(site["id"], key, domain["id"], form["id"], endpoint, delivery)


def _principal(workspace: Any) -> Any:
    from leadline.auth.roles import Role
    from leadline.auth.service import Principal

    return Principal(workspace=workspace, key_id="", role=Role.ADMIN)


@pytest.fixture
def mine(settings: Settings) -> Objects:
    make_member(settings, "acme", OWNER, role="owner")
    return _objects(settings, "acme", "shop.example")


@pytest.fixture
def theirs(settings: Settings) -> Objects:
    return _objects(settings, "other", "other.example")


@pytest.fixture
def owner(client: TestClient, mine: Objects) -> tuple[TestClient, str]:
    """The client signed in as acme's owner, and its CSRF token."""
    return client, sign_in(client, OWNER)


def _post(
    client: TestClient, path: str, csrf: str | None, **data: str | list[str]
) -> httpx.Response:
    body: dict[str, Any] = dict(data)
    if csrf is not None:
        body["csrf_token"] = csrf
    return client.post(path, data=body, follow_redirects=False)


def _says(answer: httpx.Response, message: str) -> bool:
    """Whether the page says ``message`` (a service's words begin its sentence there)."""
    return message.lower() in html.unescape(answer.text).lower()


def _pages(o: Objects) -> list[str]:
    return [
        "/app/settings/sites",
        f"/app/settings/sites/{o.site}",
        "/app/settings/webhooks",
        f"/app/settings/webhooks/{o.endpoint}",
        "/app/settings/addresses",
        "/app/settings/privacy",
    ]


def _posts(o: Objects) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/app/settings/sites", {"domain": "new.example"}),
        (f"/app/settings/sites/{o.site}/domains", {"domain": "more.example"}),
        (f"/app/settings/sites/{o.site}/domains/{o.domain}/remove", {}),
        (
            f"/app/settings/sites/{o.site}/forms",
            {"form_id": "another", "form_json": json.dumps(CONTACT_FORM)},
        ),
        (f"/app/settings/sites/{o.site}/forms/{o.form}/switch", {}),
        (
            f"/app/settings/sites/{o.site}/forms/{o.form}/definition",
            {"name": "Renamed", "form_json": json.dumps({**CONTACT_FORM, "title": "Changed"})},
        ),
        ("/app/settings/webhooks", {"url": HOOK_URL}),
        (f"/app/settings/webhooks/{o.endpoint}/switch", {}),
        (f"/app/settings/webhooks/{o.endpoint}/deliveries/{o.delivery}/redeliver", {}),
        ("/app/settings/addresses", {"address": "203.0.113.7", "kind": "block"}),
        ("/app/settings/addresses/remove", {"address": "203.0.113.7"}),
        ("/app/settings/privacy", {"erased_returns": "refuse", "site": o.site}),
        ("/app/settings/privacy/retention", {"days:visits": "395"}),
        # Last: the deletions.
        (f"/app/settings/sites/{o.site}/forms/{o.form}/delete", {}),
        (f"/app/settings/webhooks/{o.endpoint}/delete", {}),
        (f"/app/settings/sites/{o.site}/delete", {}),
    ]


def _state(settings: Settings) -> list[Any]:
    """Everything these pages can change, to compare before and after a refusal."""
    return (
        [
            fetch_rows(settings, f"SELECT * FROM {table} ORDER BY id")
            for table in (
                "sites",
                "site_domains",
                "site_forms",
                "webhook_endpoints",
                "ip_rules",
                "workspaces",
            )
        ]
        + [
            fetch_rows(
                settings,
                "SELECT workspace_id, data_class, days FROM retention_policies"
                " ORDER BY workspace_id, data_class",
            )
        ]
        + [fetch_rows(settings, "SELECT id, state FROM webhook_deliveries ORDER BY id")]
    )


# ------------------------------------------------------------------------------ who may


def test_nobody_signed_out_reaches_a_page_or_changes_anything(
    client: TestClient, settings: Settings, mine: Objects
) -> None:
    before = _state(settings)
    for path in _pages(mine):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/app/signin?next=/app/settings/")
    for path, data in _posts(mine):
        assert _post(client, path, None, **data).status_code == 401, path
    assert _state(settings) == before


def test_no_change_without_the_csrf_token(
    owner: tuple[TestClient, str], settings: Settings, mine: Objects
) -> None:
    client, _ = owner
    before = _state(settings)
    for path, data in _posts(mine):
        refused = _post(client, path, None, **data)
        assert refused.status_code == 403, path
        assert "form has expired" in refused.text
        assert _post(client, path, "0" * 64, **data).status_code == 403, path
    assert _state(settings) == before


def test_an_agent_is_refused_every_page_and_change(
    client: TestClient, settings: Settings, mine: Objects
) -> None:
    make_member(settings, "acme", "agent@example.com", role="agent")
    csrf = sign_in(client, "agent@example.com")
    before = _state(settings)
    for path in _pages(mine):
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "does not open settings" in refused.text
    for path, data in _posts(mine):
        assert _post(client, path, csrf, **data).status_code == 403, path
    assert _state(settings) == before


def test_another_workspaces_objects_are_not_found(
    owner: tuple[TestClient, str], settings: Settings, theirs: Objects
) -> None:
    client, csrf = owner
    before = _state(settings)
    for path in _pages(theirs):
        if theirs.site in path or theirs.endpoint in path:
            assert client.get(path).status_code == 404, path
    for path, data in _posts(theirs):
        if theirs.site in path or theirs.endpoint in path or data.get("site") == theirs.site:
            assert _post(client, path, csrf, **data).status_code == 404, path
    # Nor are they listed.
    for path in ("/app/settings/sites", "/app/settings/webhooks"):
        page = client.get(path).text
        assert theirs.site not in page
        assert theirs.site_key not in page
        assert theirs.endpoint not in page
    assert _state(settings) == before


def test_ids_no_row_can_have_are_not_found(owner: tuple[TestClient, str], mine: Objects) -> None:
    client, csrf = owner
    for bad in ("site_%00", "x" * 65, "site_nope"):
        assert client.get(f"/app/settings/sites/{bad}").status_code == 404
        assert client.get(f"/app/settings/webhooks/{bad}").status_code == 404
        remove = f"/app/settings/sites/{mine.site}/domains/{bad}/remove"
        assert _post(client, remove, csrf).status_code == 404


# ------------------------------------------------------------------------------ sites


def test_an_owner_creates_a_site_and_its_domains_reach_the_tracker(
    owner: tuple[TestClient, str], settings: Settings
) -> None:
    client, csrf = owner
    made = _post(client, "/app/settings/sites", csrf, domain="https://Blog.Example/", name="Blog")
    assert made.status_code == 303
    site_path = made.headers["location"]
    [site] = fetch_rows(settings, "SELECT id, site_key FROM sites WHERE name = 'Blog'")
    assert site_path == f"/app/settings/sites/{site['id']}"
    page = client.get(site_path)
    assert page.status_code == 200
    assert "blog.example" in page.text
    # The snippet, as text to copy.
    assert f"/tracker.js&#34; data-site-key=&#34;{site['site_key']}&#34;" in page.text
    assert "Never" in page.text
    assert "No visit or event has arrived" in page.text

    def track(origin: str) -> int:
        return client.post(
            "/track/session/start",
            json={"siteKey": site["site_key"], "url": f"https://{origin}/"},
            headers={"Origin": f"https://{origin}", "User-Agent": "Mozilla/5.0 Firefox/140"},
        ).status_code

    assert track("shop.blog.example") == 403
    added = _post(client, f"{site_path}/domains", csrf, domain="*.blog.example")
    assert added.status_code == 303
    assert added.headers["location"] == f"{site_path}#domains"
    assert "tracking seen never" in client.get("/app/settings/sites").text
    # The tracker's domain check sees the new domain at once.
    assert track("shop.blog.example") == 200
    page = client.get(site_path).text
    assert "Never" not in page
    assert "just now" in page
    assert "tracking seen just now" in client.get("/app/settings/sites").text

    [row] = fetch_rows(settings, "SELECT id FROM site_domains WHERE domain = '*.blog.example'")
    removed = _post(client, f"{site_path}/domains/{row['id']}/remove", csrf)
    assert removed.status_code == 303
    assert track("shop.blog.example") == 403
    assert "*.blog.example" not in client.get(site_path).text


def test_the_sites_page_says_what_to_do_without_a_site(
    client: TestClient, settings: Settings
) -> None:
    make_member(settings, "acme", OWNER, role="owner")
    sign_in(client, OWNER)
    page = client.get("/app/settings/sites")
    assert page.status_code == 200
    assert "This workspace has no site yet" in page.text
    privacy = client.get("/app/settings/privacy").text
    assert "create a site" in privacy


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"domain": "not a domain!"}, "is not a domain"),
        ({"domain": ""}, "give the site's domain"),
        ({"domain": "ok.example", "name": "n" * 201}, "longer than 200 characters"),
        ({"domain": "ok\x00.example"}, "NUL character"),
    ],
)
def test_a_bad_site_is_refused_with_a_reason(
    owner: tuple[TestClient, str], settings: Settings, data: dict[str, str], message: str
) -> None:
    client, csrf = owner
    before = _state(settings)
    refused = _post(client, "/app/settings/sites", csrf, **data)
    assert refused.status_code == 400
    assert _says(refused, message)
    assert _state(settings) == before


def test_a_bad_or_repeated_domain_is_refused(
    owner: tuple[TestClient, str], settings: Settings, mine: Objects
) -> None:
    client, csrf = owner
    before = _state(settings)
    path = f"/app/settings/sites/{mine.site}/domains"
    bad = _post(client, path, csrf, domain="http://exa mple.com")
    assert bad.status_code == 400
    assert "is not a domain" in bad.text
    again = _post(client, path, csrf, domain="shop.example")
    assert again.status_code == 409
    assert "already has the domain shop.example" in again.text
    assert _state(settings) == before


# ------------------------------------------------------------------------------ forms


def test_forms_are_listed_with_their_preview_made_and_switched(
    owner: tuple[TestClient, str], settings: Settings, mine: Objects
) -> None:
    client, csrf = owner
    path = f"/app/settings/sites/{mine.site}"
    page = client.get(path).text
    # The preview: the saved definition for /form.js, loaded from its own file, in the page.
    assert '<script src="/form.js" defer></script>' in page
    assert "/app/static/sites.js" in page
    found = re.search(r'data-form-json="([^"]+)"', page)
    assert found is not None
    assert json.loads(found.group(1).replace("&#34;", '"'))["title"] == "Ask us"
    assert 'data-form-id="enquiry"' in html.unescape(page)

    definition = {**CONTACT_FORM, "title": "Call back"}
    made = _post(
        client, f"{path}/forms", csrf, form_id="callback", form_json=json.dumps(definition)
    )
    assert made.status_code == 303
    assert "Call back" in client.get(path).text

    switched = _post(client, f"{path}/forms/{mine.form}/switch", csrf)
    assert switched.status_code == 303
    [form] = fetch_rows(settings, "SELECT enabled FROM site_forms WHERE id = :id", id=mine.form)
    assert not form["enabled"]
    assert "Turn on" in client.get(path).text


@pytest.mark.parametrize(
    ("form_id", "form_json", "message"),
    [
        ("x", "{not json", "form_json is not valid JSON"),
        ("x", json.dumps({"fields": []}), "form_json"),
        ("x", json.dumps({"fields": [{"name": "A", "type": "select", "label": "A"}]}), "options"),
        ("bad id!", json.dumps(CONTACT_FORM), "is not a form id"),
        ("enquiry", json.dumps(CONTACT_FORM), "already has a form enquiry"),
    ],
)
def test_a_bad_form_is_refused_with_a_reason(
    owner: tuple[TestClient, str],
    settings: Settings,
    mine: Objects,
    form_id: str,
    form_json: str,
    message: str,
) -> None:
    client, csrf = owner
    before = _state(settings)
    refused = _post(
        client,
        f"/app/settings/sites/{mine.site}/forms",
        csrf,
        form_id=form_id,
        form_json=form_json,
    )
    assert refused.status_code in (400, 409)
    assert _says(refused, message)
    assert _state(settings) == before


def test_a_form_of_another_site_is_not_switched_through_this_one(
    owner: tuple[TestClient, str], settings: Settings, mine: Objects
) -> None:
    client, csrf = owner
    other = make_site(settings, "acme", "second.example")
    [site] = fetch_rows(settings, "SELECT id FROM sites WHERE site_key = :k", k=other)
    before = _state(settings)
    for action in ("switch", "definition", "delete"):
        path = f"/app/settings/sites/{site['id']}/forms/{mine.form}/{action}"
        assert _post(client, path, csrf, form_json=json.dumps(CONTACT_FORM)).status_code == 404
    assert _state(settings) == before


# ------------------------------------------------------------------------------ webhooks


def test_webhook_endpoints_are_made_paused_and_deleted(
    owner: tuple[TestClient, str], settings: Settings, mine: Objects
) -> None:
    client, csrf = owner
    made = _post(
        client,
        "/app/settings/webhooks",
        csrf,
        url="https://1.0.0.1/crm",
        description="The CRM",
        events=["lead.created", "lead.status_changed"],
    )
    assert made.status_code == 201
    [endpoint] = fetch_rows(
        settings,
        "SELECT id, secret, event_types FROM webhook_endpoints WHERE url = :u",
        u="https://1.0.0.1/crm",
    )
    # The secret is shown this once.
    assert endpoint["secret"] in made.text
    assert json.loads(endpoint["event_types"]) == ["lead.created", "lead.status_changed"]
    listed = client.get("/app/settings/webhooks").text
    assert endpoint["secret"] not in listed
    assert "lead.created, lead.status_changed" in listed
    assert "The CRM" in listed

    paused = _post(client, f"/app/settings/webhooks/{endpoint['id']}/switch", csrf)
    assert paused.status_code == 303
    [row] = fetch_rows(
        settings, "SELECT enabled FROM webhook_endpoints WHERE id = :id", id=endpoint["id"]
    )
    assert not row["enabled"]
    _post(client, f"/app/settings/webhooks/{endpoint['id']}/switch", csrf)
    [row] = fetch_rows(
        settings, "SELECT enabled FROM webhook_endpoints WHERE id = :id", id=endpoint["id"]
    )
    assert row["enabled"]

    deleted = _post(client, f"/app/settings/webhooks/{endpoint['id']}/delete", csrf)
    assert deleted.status_code == 303
    assert (
        fetch_rows(settings, "SELECT id FROM webhook_endpoints WHERE id = :id", id=endpoint["id"])
        == []
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": ""}, "url must be 1 to 2048 characters"),
        ({"url": "http://1.1.1.1/x"}, "https://"),
        ({"url": "https://10.0.0.1/x"}, "not a public address"),
        ({"url": HOOK_URL, "events": ["lead.nope"]}, "unknown event type"),
    ],
)
def test_a_bad_endpoint_is_refused_with_a_reason(
    owner: tuple[TestClient, str], settings: Settings, data: dict[str, Any], message: str
) -> None:
    client, csrf = owner
    before = _state(settings)
    refused = _post(client, "/app/settings/webhooks", csrf, **data)
    assert refused.status_code == 400
    assert _says(refused, message)
    assert _state(settings) == before


def test_the_delivery_log_shows_each_delivery_and_redelivers_one(
    owner: tuple[TestClient, str], settings: Settings, mine: Objects
) -> None:
    client, csrf = owner
    execute_sql(
        settings,
        "UPDATE webhook_deliveries SET attempts = 8, last_status = 502 WHERE id = :id",
        id=mine.delivery,
    )
    path = f"/app/settings/webhooks/{mine.endpoint}"
    log = client.get(path).text
    assert "webhook.test" in log
    assert "failed" in log
    assert "<td>8</td>" in log
    assert "502" in log
    assert f"/deliveries/{mine.delivery}/redeliver" in log

    execute_sql(settings, "DELETE FROM jobs")
    again = _post(client, f"{path}/deliveries/{mine.delivery}/redeliver", csrf)
    assert again.status_code == 303
    [delivery] = fetch_rows(
        settings, "SELECT state FROM webhook_deliveries WHERE id = :id", id=mine.delivery
    )
    assert delivery["state"] == "pending"
    # The delivery job is queued to send it.
    jobs = fetch_rows(settings, "SELECT kind, state FROM jobs")
    assert jobs == [{"kind": webhooks.DELIVER, "state": "queued"}]
    assert "being sent" in client.get(path).text
    # A delivery still being attempted is not sent twice.
    twice = _post(client, f"{path}/deliveries/{mine.delivery}/redeliver", csrf)
    assert twice.status_code == 409
    assert "still being attempted" in twice.text


def test_the_webhook_pages_say_what_to_do_when_empty(
    owner: tuple[TestClient, str], settings: Settings, mine: Objects
) -> None:
    client, _ = owner
    execute_sql(settings, "DELETE FROM webhook_deliveries")
    assert (
        "Nothing has been sent to this endpoint yet"
        in client.get(f"/app/settings/webhooks/{mine.endpoint}").text
    )
    execute_sql(settings, "DELETE FROM webhook_endpoints")
    assert "No endpoint yet" in client.get("/app/settings/webhooks").text


# ------------------------------------------------------------------------------ addresses


def test_addresses_are_put_on_a_list_and_taken_off(
    owner: tuple[TestClient, str], settings: Settings
) -> None:
    client, csrf = owner
    page = client.get("/app/settings/addresses").text
    assert "No address is blocked" in page
    assert "No testing address" in page
    added = _post(
        client, "/app/settings/addresses", csrf, address="203.0.113.9/24", kind="block", note="spam"
    )
    assert added.status_code == 303
    _post(client, "/app/settings/addresses", csrf, address="2001:db8::1", kind="allow")
    rules = fetch_rows(settings, "SELECT network, kind, note FROM ip_rules ORDER BY network")
    assert rules == [
        {"network": "2001:db8::1/128", "kind": "allow", "note": None},
        {"network": "203.0.113.0/24", "kind": "block", "note": "spam"},
    ]
    page = client.get("/app/settings/addresses").text
    assert "203.0.113.0/24" in page
    assert "2001:db8::1/128" in page
    removed = _post(client, "/app/settings/addresses/remove", csrf, address="203.0.113.0/24")
    assert removed.status_code == 303
    assert [r["network"] for r in fetch_rows(settings, "SELECT network FROM ip_rules")] == [
        "2001:db8::1/128"
    ]


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"address": "203.0.113.0/33", "kind": "block"}, 400, "is not an IP address or network"),
        ({"address": "not-an-ip", "kind": "allow"}, 400, "is not an IP address or network"),
        ({"address": "", "kind": "block"}, 400, "give an IP address or network"),
        ({"address": "203.0.113.7", "kind": "maybe"}, 400, "kind must be block or allow"),
        ({"address": "198.51.100.1", "kind": "allow"}, 409, "remove it from there first"),
    ],
)
def test_a_bad_address_is_refused_with_a_reason(
    owner: tuple[TestClient, str],
    settings: Settings,
    data: dict[str, str],
    status: int,
    message: str,
) -> None:
    client, csrf = owner
    _post(client, "/app/settings/addresses", csrf, address="198.51.100.1", kind="block")
    before = _state(settings)
    refused = _post(client, "/app/settings/addresses", csrf, **data)
    assert refused.status_code == status
    assert _says(refused, message)
    assert _state(settings) == before
    gone = _post(client, "/app/settings/addresses/remove", csrf, address="192.0.2.1")
    assert gone.status_code == 404
    assert "on neither list" in gone.text


# ------------------------------------------------------------------------------ privacy


def test_consent_settings_are_shown_and_changed(
    owner: tuple[TestClient, str], settings: Settings, mine: Objects
) -> None:
    client, csrf = owner
    page = client.get("/app/settings/privacy").text
    assert 'id="erased-accept" name="erased_returns" value="accept" checked' in page
    assert "390 days" in page
    assert "LEADLINE_WORKSPACE_RETENTION_DAYS" in page
    changed = _post(
        client,
        "/app/settings/privacy",
        csrf,
        erased_returns="refuse",
        site=mine.site,
        **{f"respect_gpc:{mine.site}": "on", f"fingerprinting:{mine.site}": "on"},
    )
    assert changed.status_code == 303
    [workspace] = fetch_rows(settings, "SELECT erased_returns FROM workspaces WHERE slug = 'acme'")
    assert workspace["erased_returns"] == "refuse"
    [site] = fetch_rows(
        settings,
        "SELECT respect_dnt, respect_gpc, fingerprinting FROM sites WHERE id = :id",
        id=mine.site,
    )
    assert (bool(site["respect_dnt"]), bool(site["respect_gpc"]), bool(site["fingerprinting"])) == (
        False,
        True,
        True,
    )
    page = client.get("/app/settings/privacy").text
    assert 'value="refuse" checked' in page
    # Another workspace's setting is untouched.
    assert fetch_rows(settings, "SELECT erased_returns FROM workspaces WHERE slug = 'other'") in (
        [],
        [{"erased_returns": "accept"}],
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("erased_returns", "maybe", "erased returns must be one of: accept, refuse"),
        ("respect_dnt", "yes please", "is a box to tick"),
    ],
)
def test_a_bad_consent_setting_changes_nothing(
    owner: tuple[TestClient, str],
    settings: Settings,
    mine: Objects,
    field: str,
    value: str,
    message: str,
) -> None:
    client, csrf = owner
    before = _state(settings)
    data = {"erased_returns": "refuse", "site": mine.site, f"respect_gpc:{mine.site}": "on"}
    data[f"{field}:{mine.site}" if field == "respect_dnt" else field] = value
    refused = _post(client, "/app/settings/privacy", csrf, **data)
    assert refused.status_code == 400
    assert _says(refused, message)
    assert _state(settings) == before


def test_a_site_the_consent_form_did_not_show_keeps_its_settings(
    owner: tuple[TestClient, str], settings: Settings, mine: Objects
) -> None:
    client, csrf = owner
    newer = make_site(settings, "acme", "newer.example", respect_dnt=True)
    changed = _post(client, "/app/settings/privacy", csrf, erased_returns="accept", site=mine.site)
    assert changed.status_code == 303
    [site] = fetch_rows(settings, "SELECT respect_dnt FROM sites WHERE site_key = :k", k=newer)
    assert site["respect_dnt"]


def test_retention_periods_are_shown_and_changed(
    owner: tuple[TestClient, str], settings: Settings, mine: Objects
) -> None:
    client, csrf = owner
    page = html.unescape(client.get("/app/settings/privacy").text)
    # Every class, kept forever until a period is set; raw events at the instance's limit.
    for name in ("events", "visits", "submissions", "leads_lost", "conversations", "audit"):
        assert f'name="days:{name}" value=""' in page, name
    assert "No run yet." in page
    changed = _post(
        client,
        "/app/settings/privacy/retention",
        csrf,
        **{"days:visits": "395", "days:leads_lost": " 730 ", "days:audit": ""},
    )
    assert changed.status_code == 303
    assert changed.headers["location"].endswith("/app/settings/privacy#retention-heading")
    rows = fetch_rows(
        settings,
        "SELECT p.data_class, p.days FROM retention_policies p"
        " JOIN workspaces w ON w.id = p.workspace_id WHERE w.slug = 'acme'"
        " ORDER BY p.data_class",
    )
    assert [(row["data_class"], row["days"]) for row in rows] == [
        ("leads_lost", 730),
        ("visits", 395),
    ]
    page = html.unescape(client.get("/app/settings/privacy").text)
    assert 'name="days:visits" value="395"' in page
    assert 'name="days:leads_lost" value="730"' in page
    # Raw events are kept no longer than their visits.
    assert re.search(r'name="days:events" value=""[^>]*></td>\s*<td>390 days', page)
    # The change is audited as the API's is.
    [audited] = fetch_rows(
        settings, "SELECT changes FROM audit_events WHERE action = 'privacy.retention_changed'"
    )
    assert json.loads(audited["changes"])["visits"] == {"before": None, "after": 395}
    # Emptied, a class is kept forever again.
    assert (
        _post(client, "/app/settings/privacy/retention", csrf, **{"days:visits": ""}).status_code
        == 303
    )
    rows = fetch_rows(settings, "SELECT data_class FROM retention_policies")
    assert [row["data_class"] for row in rows] == ["leads_lost"]


def test_the_last_retention_run_is_shown_with_its_counts(
    owner: tuple[TestClient, str], settings: Settings, mine: Objects
) -> None:
    client, _ = owner
    [workspace] = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")
    execute_sql(
        settings,
        "INSERT INTO retention_runs (id, workspace_id, trigger, cutoffs, counts, progress,"
        " started_at, finished_at) VALUES ('ret_shown', :ws, 'job', '{}',"
        ' \'{"events": 1200, "visits": 298, "visits_anonymised": 12}\', \'{}\', :at, :at)',
        ws=workspace["id"],
        at=datetime.now(UTC) - timedelta(hours=3),
    )
    page = html.unescape(client.get("/app/settings/privacy").text)
    assert "ret_shown" in page
    assert "3 hours ago" in page
    assert re.search(r"<code>events</code></dt><dd>1200 removed", page)
    assert re.search(r"<code>visits</code></dt><dd>298 removed", page)
    assert re.search(r"<code>visits_anonymised</code></dt><dd>12 anonymised", page)
    assert "No run yet." not in page


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "'soon' is not a number of days"),
        ("-3", "'-3' is not a number of days"),
        ("0", "periods.visits must be a whole number of days from 1 to 36500"),
        ("36501", "periods.visits must be a whole number of days from 1 to 36500"),
        ("9" * 30, "days:visits is longer than 20 characters"),
    ],
)
def test_a_bad_retention_period_is_refused_on_the_page_and_changes_nothing(
    owner: tuple[TestClient, str], settings: Settings, mine: Objects, value: str, message: str
) -> None:
    client, csrf = owner
    assert (
        _post(client, "/app/settings/privacy/retention", csrf, **{"days:jobs": "30"}).status_code
        == 303
    )
    before = _state(settings)
    refused = _post(
        client,
        "/app/settings/privacy/retention",
        csrf,
        **{"days:jobs": "60", "days:visits": value},
    )
    assert refused.status_code == 400
    assert "text/html" in refused.headers["content-type"]
    assert _says(refused, message)
    assert _state(settings) == before


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_open_every_page(
    client: TestClient, settings: Settings, mine: Objects, role: str
) -> None:
    make_member(settings, "acme", "someone@example.com", role=role)
    sign_in(client, "someone@example.com")
    for path in _pages(mine):
        assert client.get(path).status_code == 200, path


def test_how_long_ago_is_said_in_words() -> None:
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert ago(None, now) == "never"
    assert ago(now - timedelta(seconds=59), now) == "just now"
    # A clock a little ahead of this one's.
    assert ago(now + timedelta(seconds=5), now) == "just now"
    assert ago(now - timedelta(minutes=1), now) == "1 minute ago"
    assert ago(now - timedelta(minutes=59, seconds=59), now) == "59 minutes ago"
    assert ago(now - timedelta(hours=2, minutes=30), now) == "2 hours ago"
    assert ago(now - timedelta(days=40), now) == "40 days ago"


def test_a_forms_definition_is_changed_and_a_bad_one_refused(
    owner: tuple[TestClient, str], settings: Settings, mine: Objects
) -> None:
    client, csrf = owner
    path = f"/app/settings/sites/{mine.site}/forms/{mine.form}/definition"
    page = client.get(f"/app/settings/sites/{mine.site}").text
    # The definition to edit, laid out, beside a preview that follows it.
    assert "&#34;title&#34;: &#34;Ask us&#34;,\n" in page
    assert f'data-live-preview="#live-{mine.form}"' in page
    changed = {**CONTACT_FORM, "title": "Changed", "submit_label": "Go"}
    answer = _post(client, path, csrf, name="Renamed", form_json=json.dumps(changed))
    assert answer.status_code == 303
    assert answer.headers["location"].endswith(f"#form-{mine.form}")
    [form] = fetch_rows(
        settings, "SELECT name, form_json FROM site_forms WHERE id = :id", id=mine.form
    )
    assert form["name"] == "Renamed"
    assert json.loads(form["form_json"])["submit_label"] == "Go"

    before = _state(settings)
    for bad, message in (
        ("", "form_json is not valid JSON"),
        (json.dumps({"fields": [{"name": "siteKey", "label": "Key"}]}), "is reserved"),
    ):
        refused = _post(client, path, csrf, name="Other", form_json=bad)
        assert refused.status_code == 400
        assert _says(refused, message)
    assert _state(settings) == before


def test_a_form_and_a_site_are_deleted_and_the_log_names_who(
    owner: tuple[TestClient, str], settings: Settings, mine: Objects
) -> None:
    client, csrf = owner
    path = f"/app/settings/sites/{mine.site}"
    assert _post(client, f"{path}/forms/{mine.form}/delete", csrf).status_code == 303
    assert fetch_rows(settings, "SELECT id FROM site_forms WHERE id = :id", id=mine.form) == []
    assert "This site has no form yet" in client.get(path).text
    gone = _post(client, f"{path}/delete", csrf)
    assert gone.status_code == 303
    assert gone.headers["location"] == "/app/settings/sites"
    assert client.get(path).status_code == 404
    assert mine.site_key not in client.get("/app/settings/sites").text
    tracked = client.post(
        "/track/session/start",
        json={"siteKey": mine.site_key, "url": "https://shop.example/"},
        headers={"Origin": "https://shop.example", "User-Agent": "Mozilla/5.0 Firefox/140"},
    )
    assert tracked.status_code == 404
    [person] = fetch_rows(settings, "SELECT id FROM people WHERE email = :e", e=OWNER)
    actions = fetch_rows(
        settings,
        "SELECT action, actor_type, actor_id FROM audit_events"
        " WHERE action IN ('form.deleted', 'site.deleted') ORDER BY action",
    )
    assert actions == [
        {"action": "form.deleted", "actor_type": "user", "actor_id": person["id"]},
        {"action": "site.deleted", "actor_type": "user", "actor_id": person["id"]},
    ]


ODD_VALUES = ["\x00", "x" * 5000, "☃.example", "%00", "<script>alert(1)</script>", "../..", " "]


def test_odd_values_in_any_field_or_path_never_make_a_500(
    owner: tuple[TestClient, str], settings: Settings, mine: Objects
) -> None:
    client, csrf = owner
    for path, data in _posts(mine):
        for name in [*data, "unexpected"]:
            for odd in ODD_VALUES:
                answer = _post(client, path, csrf, **{**data, name: odd})
                assert answer.status_code < 500, (path, name, odd, answer.text)
    for odd in ("%00", "%FF", "x" * 300, "%2e%2e", "%E2%98%83"):
        for page in (f"/app/settings/sites/{odd}", f"/app/settings/webhooks/{odd}"):
            assert client.get(page).status_code == 404, page
        remove = f"/app/settings/sites/{mine.site}/domains/{odd}/remove"
        assert _post(client, remove, csrf).status_code == 404, remove
