"""The Leads pages through the ASGI app: who may open them, the filters (the lead API's, read
through the same service), status changes that the API and webhook receivers see as theirs,
the lead's page and the CSV export of the current filter."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from tests.fixtures.factories import fetch_rows, make_key, make_visit, make_webhook_endpoint
from tests.fixtures.people import webhook_events
from tests.fixtures.web import (
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
    sign_in,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

OWNER = "owner@example.com"
HTMX = {"HX-Request": "true", "HX-Target": "leads-results"}


def _lead(client: TestClient, key: str, **fields: Any) -> str:
    answer = client.post("/api/leads", json=fields, headers={"X-API-KEY": key})
    assert answer.status_code == 201, answer.text
    lead_id: str = answer.json()["data"]["id"]
    return lead_id


def _api_lead(client: TestClient, key: str, lead_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/leads/{lead_id}", headers={"X-API-KEY": key})
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


@pytest.fixture
def owner(client: TestClient, settings: Settings) -> str:
    """The owner of ``acme``, signed in on ``client``; the CSRF token of its pages."""
    make_member(settings, "acme", OWNER, role="owner")
    return sign_in(client, OWNER)


@pytest.fixture
def seeded(client: TestClient, admin_key: str) -> dict[str, str]:
    """Leads of ``acme`` sent through the API, by name."""
    return {
        "Ada": _lead(
            client,
            admin_key,
            name="Ada",
            email="ada@example.com",
            utm_source="google",
            utm_campaign="spring",
            gclid="gclid-ada",
            website="https://shop.example",
            path="/pricing?plan=pro",
        ),
        "Grace": _lead(
            client, admin_key, name="Grace", email="grace@example.com", utm_source="bing"
        ),
        "Linus": _lead(client, admin_key, name="Linus", phone="+31 20 123 4567", fbc="fb.1.abc"),
    }


def _names(html: str, leads: dict[str, str]) -> set[str]:
    return {name for name, lead_id in leads.items() if f'id="lead-{lead_id}"' in html}


# ------------------------------------------------------------------------------ who may


def test_anonymous_pages_send_to_sign_in_and_htmx_and_posts_get_401(
    client: TestClient, admin_key: str
) -> None:
    lead_id = _lead(client, admin_key, name="Ada")
    for path in ("/app/leads?status=won", f"/app/leads/{lead_id}", "/app/leads/export.csv"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/app/signin?next=/app/leads")
    fragment = client.get("/app/leads", headers=HTMX, follow_redirects=False)
    assert fragment.status_code == 401
    assert fragment.headers["HX-Redirect"] == "/app/signin"
    changed = client.post(
        f"/app/leads/{lead_id}/status", data={"status": "qualified"}, follow_redirects=False
    )
    assert changed.status_code == 401
    assert _api_lead(client, admin_key, lead_id)["status"] == "open"


def test_a_status_change_without_the_csrf_token_is_refused(
    client: TestClient, owner: str, admin_key: str
) -> None:
    lead_id = _lead(client, admin_key, name="Ada")
    answer = client.post(f"/app/leads/{lead_id}/status", data={"status": "qualified"})
    assert answer.status_code == 403
    wrong = client.post(
        f"/app/leads/{lead_id}/status", data={"status": "qualified", "csrf_token": "0" * 64}
    )
    assert wrong.status_code == 403
    assert _api_lead(client, admin_key, lead_id)["status"] == "open"


def test_a_person_of_another_workspace_neither_sees_nor_changes_the_lead(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    lead_id = _lead(client, admin_key, name="Ada Acme", email="ada@acme.example")
    make_member(settings, "globex", "hank@globex.example", role="owner")
    csrf = sign_in(client, "hank@globex.example")
    assert client.get(f"/app/leads/{lead_id}").status_code == 404
    assert "Ada Acme" not in client.get("/app/leads").text
    assert "Ada Acme" not in client.get("/app/leads/export.csv").text
    changed = client.post(
        f"/app/leads/{lead_id}/status", data={"status": "won", "csrf_token": csrf}
    )
    assert changed.status_code == 404
    assert "Not found" in changed.text
    assert _api_lead(client, admin_key, lead_id)["status"] == "open"


def test_agents_open_the_leads_pages(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    _lead(client, admin_key, name="Ada")
    make_member(settings, "acme", "agnes@example.com", role="agent")
    sign_in(client, "agnes@example.com")
    answer = client.get("/app/leads")
    assert answer.status_code == 200
    assert "Ada" in answer.text


# ------------------------------------------------------------------------------ the list


def test_the_empty_list_says_what_to_do_next(client: TestClient, owner: str) -> None:
    answer = client.get("/app/leads")
    assert answer.status_code == 200
    assert "No leads yet" in answer.text
    assert "POST /api/leads" in answer.text
    assert "tracker" in answer.text


def test_filters_search_and_sort_choose_the_leads(
    client: TestClient, owner: str, seeded: dict[str, str], admin_key: str
) -> None:
    client.patch(
        "/api/leads",
        json={"id": seeded["Grace"], "status": "won", "value": 900},
        headers={"X-API-KEY": admin_key},
    )
    cases = {
        "": {"Ada", "Grace", "Linus"},
        "status=won": {"Grace"},
        "status=open&status=won": {"Ada", "Grace", "Linus"},
        "status=open": {"Ada", "Linus"},
        "utm_source=google": {"Ada"},
        "utm_source[exists]=false": {"Linus"},
        "click=gclid": {"Ada"},
        "fbc=fb.1.abc": {"Linus"},
        "search=grace%40": {"Grace"},
        "search=ada&status=won": set(),
        "value[gte]=500": {"Grace"},
        "created_at[gte]=2000-01-01&created_at[lte]=2000-12-31": set(),
        "source=api&website=https://shop.example": {"Ada"},
    }
    for query, wanted in cases.items():
        answer = client.get(f"/app/leads?{query}")
        assert answer.status_code == 200, (query, answer.text)
        assert _names(answer.text, seeded) == wanted, query
    # A filter the form has no field for is sent again with the form.
    kept = client.get("/app/leads?fbc=fb.1.abc&utm_source=bing").text
    assert '<input type="hidden" name="fbc" value="fb.1.abc">' in kept
    assert 'type="hidden" name="utm_source"' not in kept
    assert 'name="utm_source" value="bing"' in kept
    by_name = client.get("/app/leads?sort=name:desc").text
    assert by_name.index("Linus") < by_name.index("Grace") < by_name.index("Ada")
    # The same filter through the API finds the same leads.
    api = client.get("/api/leads?utm_source=google", headers={"X-API-KEY": admin_key})
    assert [lead["id"] for lead in api.json()["data"]] == [seeded["Ada"]]


def test_htmx_gets_the_table_alone_and_the_address_to_show(
    client: TestClient, owner: str, seeded: dict[str, str]
) -> None:
    answer = client.get(
        "/app/leads?status=open&search=&utm_source=google&sort=created_at:desc&limit=50",
        headers=HTMX,
    )
    assert answer.status_code == 200
    assert "<html" not in answer.text
    assert _names(answer.text, seeded) == {"Ada"}
    assert answer.headers["HX-Push-Url"] == "/app/leads?status=open&utm_source=google"
    # Without the table as its target, htmx (and the address bar) get the whole page.
    assert "<html" in client.get("/app/leads", headers={"HX-Request": "true"}).text


def test_pages_of_leads_link_to_each_other(client: TestClient, owner: str, admin_key: str) -> None:
    ids = [_lead(client, admin_key, name=f"Lead {n}") for n in range(5)]
    first = client.get("/app/leads?limit=2&status=open")
    assert first.status_code == 200
    assert "Leads 1\N{EN DASH}2 of 5" in first.text
    assert "page=2" in first.text
    assert "Previous page" not in first.text
    last = client.get("/app/leads?limit=2&status=open&page=3")
    assert f'id="lead-{ids[0]}"' in last.text
    assert "Next page" not in last.text
    assert "Previous page" in last.text


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("status=maybe", "status must be one of open, qualified, won, lost"),
        ("created_at[gte]=yesterday", "is not a date"),
        ("value[gte]=lots", "must be a number"),
        ("colour=red", "cannot filter on"),
        ("utm_source[gt]=a", "does not take [gt]"),
        ("sort=colour:asc", "cannot sort by"),
        ("sort=name:sideways", "sort direction must be asc or desc"),
        ("page=two", "page must be a whole number"),
        ("limit=1000", "limit must be between 1 and 100"),
        ("click=nope", "click must be one of"),
        ("search=" + "x" * 201, "search must be at most 200 characters"),
        ("gclid[wat]=1", "unknown filter operator"),
    ],
)
def test_a_bad_filter_is_a_400_that_says_why(
    client: TestClient, owner: str, query: str, said: str
) -> None:
    page = client.get(f"/app/leads?{query}")
    assert page.status_code == 400, page.text
    assert said in page.text.replace("&#39;", "'").lower()
    assert "<form" in page.text  # the filters, to correct
    fragment = client.get(f"/app/leads?{query}", headers=HTMX)
    assert fragment.status_code == 400
    assert "<html" not in fragment.text
    assert 'role="alert"' in fragment.text
    assert client.get(f"/app/leads/export.csv?{query}").status_code == 400


# ------------------------------------------------------------------------------ status


def test_a_status_change_on_the_page_is_the_apis_and_sends_the_same_webhook(
    client: TestClient, settings: Settings, owner: str, admin_key: str
) -> None:
    make_webhook_endpoint(settings, admin_key, ["lead.status_changed"])
    through_page = _lead(client, admin_key, name="Ada", email="ada@example.com")
    through_api = _lead(client, admin_key, name="Grace", email="grace@example.com")

    row = client.post(
        f"/app/leads/{through_page}/status",
        data={"status": "won", "value": "1500.50", "currency": "usd"},
        headers={"HX-Request": "true", "X-CSRF-Token": owner},
    )
    assert row.status_code == 200, row.text
    assert row.text.lstrip().startswith(f'<tr id="lead-{through_page}"')
    assert "1,500.5 USD" in row.text
    said = json.loads(row.headers["HX-Trigger-After-Settle"])["leadChanged"]
    assert said == {"message": "Ada is now won.", "row": f"lead-{through_page}"}
    client.patch(
        "/api/leads",
        json={"id": through_api, "status": "won", "value": 1500.5, "currency": "USD"},
        headers={"X-API-KEY": admin_key},
    )

    lead = _api_lead(client, admin_key, through_page)
    assert (lead["status"], lead["value"], lead["currency"]) == ("won", 1500.5, "USD")
    assert lead["qualifiedAt"] is not None
    page_event, api_event = webhook_events(settings, "lead.status_changed")
    assert page_event["data"]["lead"]["id"] == through_page
    assert (page_event["data"]["from"], page_event["data"]["to"]) == ("open", "won")
    assert set(page_event["data"]) == set(api_event["data"])
    assert set(page_event["data"]["lead"]) == set(api_event["data"]["lead"])
    # The audit log names the person who changed it.
    [audited] = fetch_rows(
        settings,
        "SELECT actor_type FROM audit_events WHERE action = 'lead.status_changed' "
        "AND target_id = :lead_id",
        lead_id=through_page,
    )
    assert audited["actor_type"] == "user"


def test_qualify_and_lose_with_a_reason_without_javascript(
    client: TestClient, owner: str, admin_key: str
) -> None:
    lead_id = _lead(client, admin_key, name="Ada")
    answer = client.post(
        f"/app/leads/{lead_id}/status",
        data={"status": "qualified", "csrf_token": owner},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/app/leads/{lead_id}?changed=qualified"
    assert (
        "this lead is now <strong>qualified</strong>" in client.get(answer.headers["location"]).text
    )
    client.post(
        f"/app/leads/{lead_id}/status",
        data={"status": "lost", "reason": "went with a competitor", "csrf_token": owner},
    )
    lead = _api_lead(client, admin_key, lead_id)
    assert (lead["status"], lead["lossReason"]) == ("lost", "went with a competitor")


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"status": "won", "value": "a lot"}, "value must be a number"),
        ({"status": "won", "value": "10", "currency": "EURO"}, "three-letter code"),
        ({"status": "open"}, "choose qualified, won or lost"),
        ({"status": "lost", "reason": "no\x00budget"}, "contains a nul character"),
        ({}, "choose qualified, won or lost"),
    ],
)
def test_a_bad_status_change_says_why_in_the_row(
    client: TestClient, owner: str, admin_key: str, data: dict[str, str], said: str
) -> None:
    lead_id = _lead(client, admin_key, name="Ada")
    row = client.post(
        f"/app/leads/{lead_id}/status",
        data=data,
        headers={"HX-Request": "true", "X-CSRF-Token": owner},
    )
    assert row.status_code == 400
    assert row.text.lstrip().startswith(f'<tr id="lead-{lead_id}"')
    assert said in row.text.lower()
    page = client.post(f"/app/leads/{lead_id}/status", data={**data, "csrf_token": owner})
    assert page.status_code == 400
    assert said in page.text.lower()
    assert _api_lead(client, admin_key, lead_id)["status"] == "open"


# ------------------------------------------------------------------------------ one lead


def test_a_leads_page_shows_what_brought_it_its_history_and_its_webhooks(
    client: TestClient, settings: Settings, owner: str, admin_key: str
) -> None:
    make_webhook_endpoint(settings, admin_key, [], url="http://127.0.0.1:9/leads-hook")
    # The tracked visit the lead came from: its attribution wins over the body's.
    visit_id = make_visit(
        settings,
        gclid="gclid-123",
        utm_source="google",
        utm_campaign="spring",
        website="https://shop.example",
        path="/pricing",
        ad_storage=True,
        referrer="https://www.google.com/",
        channel="paid",
        page_views=3,
    )
    lead_id = _lead(
        client,
        admin_key,
        name="Ada",
        email="ada@example.com",
        utm_source="newsletter",
        sessionId=visit_id,
    )
    client.post(
        f"/app/leads/{lead_id}/status",
        data={"status": "qualified"},
        headers={"HX-Request": "true", "X-CSRF-Token": owner},
    )
    page = client.get(f"/app/leads/{lead_id}")
    assert page.status_code == 200
    text = page.text
    for shown in (
        "gclid-123",
        "googleads",
        "https://shop.example/pricing",
        "spring",
        "granted",
        "https://www.google.com/",  # the visit's referrer
        "Visit</strong> from paid",
        "3 pages",
    ):
        assert shown in text, shown
    assert "newsletter" not in text
    assert "changed from open to qualified" in text
    assert "set to open" in text
    assert "lead.created" in text
    assert "lead.status_changed" in text
    assert "http://127.0.0.1:9/leads-hook" in text
    [event] = fetch_rows(
        settings, "SELECT lead_id FROM webhook_events WHERE type = 'lead.status_changed'"
    )
    assert event["lead_id"] == lead_id


def test_an_unknown_lead_is_a_404_page(client: TestClient, owner: str) -> None:
    for lead_id in ("lead_missing", "x" * 300):
        page = client.get(f"/app/leads/{lead_id}")
        assert page.status_code == 404
        assert "<html" in page.text


# ------------------------------------------------------------------------------ export


def test_the_csv_holds_the_leads_of_the_filter(
    client: TestClient, settings: Settings, owner: str, seeded: dict[str, str]
) -> None:
    # A lead of another workspace, which no export of acme's may hold.
    _lead(client, make_key(settings, "globex"), name="Hank", utm_source="google")
    answer = client.get("/app/leads/export.csv?utm_source[exists]=true&search=example.com")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert {row["name"] for row in rows} == {"Ada", "Grace"}
    ada = next(row for row in rows if row["name"] == "Ada")
    assert (ada["id"], ada["email"], ada["utm_source"], ada["gclid"]) == (
        seeded["Ada"],
        "ada@example.com",
        "google",
        "gclid-ada",
    )
    everything = list(csv.DictReader(io.StringIO(client.get("/app/leads/export.csv").text)))
    assert [row["name"] for row in everything] == ["Linus", "Grace", "Ada"]  # newest first
    none = client.get("/app/leads/export.csv?status=won").text
    assert none.strip().split("\r\n") == [none.strip()]  # the header alone


def test_the_export_reads_in_batches(
    client: TestClient, owner: str, admin_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadline.web import leads as pages

    monkeypatch.setattr(pages, "EXPORT_BATCH", 2)
    names = [f"Lead {n}" for n in range(5)]
    for name in names:
        _lead(client, admin_key, name=name)
    rows = list(csv.DictReader(io.StringIO(client.get("/app/leads/export.csv").text)))
    assert sorted(row["name"] for row in rows) == names
    assert len({row["id"] for row in rows}) == 5
