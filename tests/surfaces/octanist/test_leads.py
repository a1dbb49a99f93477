"""POST, GET and PATCH /api/leads as Octanist clients use them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.surfaces.octanist.schemas import LEAD_FIELDS
from tests.fixtures.factories import fetch_rows, make_key, make_visit, set_workspace

SEED_LEAD_FIELDS = {
    "id", "name", "email", "phone", "status", "value", "note", "custom", "lossReason",
    "conversionName", "source", "website", "path", "gclid", "ga4cid", "ga4sid", "fbc", "fbp",
    "msclkid", "ttclid", "twclid", "rdt_cid", "sccid", "li_fat_id", "utm_source", "utm_medium",
    "utm_campaign", "ad_storage", "ad_user_data", "analytics_storage", "ad_personalization",
    "googleAdsCampaignId", "googleAdsCampaignName", "googleAdsAdGroupId", "googleAdsAdGroupName",
    "googleAdsAdId", "labelId", "selectedConversionEventId", "createdAt", "updatedAt",
    "qualifiedAt", "expiresAt",
}  # fmt: skip


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def create(api: TestClient, **body: object) -> str:
    response = api.post("/api/leads", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def get(api: TestClient, lead_id: str) -> dict[str, object]:
    response = api.get(f"/api/leads/{lead_id}")
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()["data"]
    return data


# ------------------------------------------------------------------------------------ create


def test_create_answers_id_and_message(api: TestClient, settings: Settings) -> None:
    response = api.post("/api/leads", json={"name": "Ada", "email": "ada@example.com"})
    data = response.json()["data"]
    assert response.status_code == 201
    assert data["message"] == "Lead added"
    assert data["id"].startswith("lead_")
    # The id answered is the lead stored, and the only one.
    stored = get(api, data["id"])
    assert (stored["id"], stored["name"], stored["email"]) == (
        data["id"],
        "Ada",
        "ada@example.com",
    )
    assert [row["id"] for row in fetch_rows(settings, "SELECT id FROM leads")] == [data["id"]]


def test_full_lead_object_has_every_documented_field(api: TestClient) -> None:
    lead_id = create(
        api,
        name="John Doe",
        email="john@example.com",
        phone="+1 650 253 0000",
        custom={"company": "Acme Inc"},
        note="Customer notes",
        website="https://example.com",
        path="/pricing",
        gclid="abc123",
        dclid="d1",
        gbraid="gb1",
        wbraid="wb1",
        epik="ep1",
        fbc="fb.1.1234567890.abc123",
        utm_source="google",
        utm_medium="cpc",
        utm_campaign="summer_sale",
        ad_storage=True,
        ad_user_data="granted",
        analytics_storage="denied",
        ad_personalization=False,
        conversionName="Purchase",
        googleAdsCampaignId="123456789",
    )
    lead = get(api, lead_id)
    assert set(lead) >= SEED_LEAD_FIELDS
    assert {"dclid", "gbraid", "wbraid", "epik", "currency"} <= set(lead)
    assert list(lead) == list(LEAD_FIELDS)
    assert lead["status"] == "open"
    assert lead["source"] == "api"
    assert lead["custom"] == '{"company":"Acme Inc"}'
    assert lead["phone"] == "+1 650 253 0000"
    assert lead["phoneE164"] == "+16502530000"
    assert (lead["ad_storage"], lead["ad_user_data"]) == (True, True)
    assert (lead["analytics_storage"], lead["ad_personalization"]) == (False, False)
    assert (lead["dclid"], lead["gbraid"], lead["wbraid"], lead["epik"]) == (
        "d1",
        "gb1",
        "wb1",
        "ep1",
    )
    assert lead["conversionName"] == "Purchase"
    assert lead["googleAdsCampaignId"] == "123456789"
    assert lead["qualifiedAt"] is None
    created = parse(str(lead["createdAt"]))
    assert parse(str(lead["expiresAt"])) - created == timedelta(days=90)


def test_custom_string_kept_as_is_and_array_stringified(api: TestClient) -> None:
    assert get(api, create(api, custom="plain text"))["custom"] == "plain text"
    assert get(api, create(api, custom=[1, "two"]))["custom"] == '[1,"two"]'


def test_lead_without_click_has_no_expiry(api: TestClient) -> None:
    assert get(api, create(api, name="Organic"))["expiresAt"] is None


def test_unparseable_phone_is_kept_raw(api: TestClient) -> None:
    lead = get(api, create(api, phone="0612 345 678"))
    assert lead["phone"] == "0612 345 678"
    assert lead["phoneE164"] is None


def test_session_attribution_wins_over_body(api: TestClient, settings: Settings) -> None:
    clicked = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    visit_id = make_visit(
        settings,
        "acme",
        gclid="from-session",
        utm_source="google",
        utm_campaign="tracked",
        website="https://shop.example",
        path="/landing",
        ad_storage=True,
        clicked_at=clicked,
    )
    response = api.post(
        "/api/leads",
        json={"name": "Ada", "sessionId": visit_id, "gclid": "from-body", "utm_campaign": "body"},
    )
    assert response.json()["data"]["sessionLinked"] is True
    lead = get(api, response.json()["data"]["id"])
    assert lead["gclid"] == "from-session"
    assert lead["utm_campaign"] == "tracked"
    assert lead["website"] == "https://shop.example"
    assert lead["ad_storage"] is True
    assert lead["sessionId"] == visit_id
    assert parse(str(lead["expiresAt"])) == clicked + timedelta(days=90)


def test_session_of_another_workspace_is_not_linked(api: TestClient, settings: Settings) -> None:
    foreign = make_visit(settings, "other", gclid="theirs")
    response = api.post("/api/leads", json={"name": "Ada", "sessionId": foreign, "gclid": "mine"})
    assert response.status_code == 201
    assert response.json()["data"]["sessionLinked"] is False
    lead = get(api, response.json()["data"]["id"])
    assert lead["gclid"] == "mine"
    assert lead["sessionId"] is None


def test_idempotency_key_replays_first_answer(api: TestClient, settings: Settings) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = api.post("/api/leads", json={"name": "Ada"}, headers=headers)
    second = api.post("/api/leads", json={"name": "Ada"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["data"] == second.json()["data"]
    assert len(fetch_rows(settings, "SELECT id FROM leads")) == 1
    different = api.post("/api/leads", json={"name": "Bob"}, headers=headers)
    assert different.status_code == 409
    assert different.json()["error"]["code"] == "CONFLICT"
    assert [row["name"] for row in fetch_rows(settings, "SELECT name FROM leads")] == ["Ada"]
    other_key = api.post("/api/leads", json={"name": "Ada"}, headers={"Idempotency-Key": "x"})
    assert other_key.json()["data"]["id"] != first.json()["data"]["id"]


def test_idempotency_keys_are_per_workspace(
    api: TestClient, client: TestClient, settings: Settings
) -> None:
    other = make_key(settings, "other", "admin")
    headers = {"Idempotency-Key": "same"}
    mine = api.post("/api/leads", json={"name": "Ada"}, headers=headers)
    theirs = client.post(
        "/api/leads", json={"name": "Ada"}, headers={**headers, "X-API-KEY": other}
    )
    assert theirs.status_code == 201
    assert theirs.json()["data"]["id"] != mine.json()["data"]["id"]
    # Each workspace holds its own lead, not a replay of the other's.
    stored = fetch_rows(
        settings,
        "SELECT l.id, w.slug FROM leads l JOIN workspaces w ON w.id = l.workspace_id "
        "ORDER BY w.slug",
    )
    assert [(row["slug"], row["id"]) for row in stored] == [
        ("acme", mine.json()["data"]["id"]),
        ("other", theirs.json()["data"]["id"]),
    ]


def test_get_unknown_lead_is_404(api: TestClient) -> None:
    response = api.get("/api/leads/lead_missing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


# ------------------------------------------------------------------------------------- patch


def test_patch_by_id_sets_status_value_and_qualified_at_once(api: TestClient) -> None:
    lead_id = create(api, name="Ada", email="ada@example.com")
    response = api.patch(
        "/api/leads", json={"id": lead_id, "status": "qualified", "value": "1500.50"}
    )
    assert response.status_code == 200
    assert response.json()["data"] == {
        "leadId": lead_id,
        "leadsUpdated": 1,
        "message": "Lead updated successfully",
    }
    lead = get(api, lead_id)
    assert lead["status"] == "qualified"
    assert lead["value"] == 1500.5
    assert lead["currency"] == "EUR"
    first_qualified = lead["qualifiedAt"]
    assert first_qualified is not None
    api.patch("/api/leads", json={"id": lead_id, "status": "won", "value": 2000})
    lead = get(api, lead_id)
    assert (lead["status"], lead["value"]) == ("won", 2000)
    assert lead["qualifiedAt"] == first_qualified
    assert parse(str(lead["updatedAt"])) >= parse(str(first_qualified))


def test_won_directly_sets_qualified_at(api: TestClient) -> None:
    lead_id = create(api, name="Ada")
    api.patch("/api/leads", json={"id": lead_id, "status": "won"})
    assert get(api, lead_id)["qualifiedAt"] is not None


def test_changed_to_is_the_legacy_status_and_status_wins(api: TestClient) -> None:
    lead_id = create(api, name="Ada")
    api.patch("/api/leads", json={"id": lead_id, "changedTo": "win"})
    assert get(api, lead_id)["status"] == "won"
    api.patch("/api/leads", json={"id": lead_id, "changedTo": "qualified", "status": "lost"})
    assert get(api, lead_id)["status"] == "lost"


def test_loss_reason_only_on_lost(api: TestClient) -> None:
    lead_id = create(api, name="Ada")
    api.patch("/api/leads", json={"id": lead_id, "status": "qualified", "lossReason": "price"})
    assert get(api, lead_id)["lossReason"] is None
    api.patch("/api/leads", json={"id": lead_id, "status": "lost", "lossReason": "price"})
    assert get(api, lead_id)["lossReason"] == "price"


def test_patch_identifier_priority_id_then_email_then_phone(api: TestClient) -> None:
    a = create(api, name="A", email="a@example.com", phone="+31612345678")
    b = create(api, name="B", email="b@example.com", phone="+31687654321")
    # id wins over email
    api.patch("/api/leads", json={"id": a, "email": "b@example.com", "note": "by id"})
    assert get(api, a)["note"] == "by id"
    assert get(api, b)["note"] is None
    # email wins over phone
    api.patch("/api/leads", json={"email": "B@EXAMPLE.com", "phone": "+31612345678", "note": "e"})
    assert get(api, b)["note"] == "e"
    # phone in another notation
    api.patch("/api/leads", json={"phone": "+31 6 1234 5678", "note": "by phone"})
    assert get(api, a)["note"] == "by phone"


def test_patch_several_matches_is_conflict_unless_bulk_allowed(
    api: TestClient, settings: Settings
) -> None:
    one = create(api, name="A", email="dup@example.com")
    two = create(api, name="B", email="dup@example.com")
    response = api.patch("/api/leads", json={"email": "dup@example.com", "status": "won"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"
    assert get(api, one)["status"] == get(api, two)["status"] == "open"
    set_workspace(settings, "acme", allow_bulk_updates=True)
    response = api.patch("/api/leads", json={"email": "dup@example.com", "status": "won"})
    assert response.status_code == 200
    assert response.json()["data"]["leadsUpdated"] == 2
    assert get(api, one)["status"] == get(api, two)["status"] == "won"


def test_patch_errors(api: TestClient, settings: Settings) -> None:
    lead_id = create(api, name="A")
    before = get(api, lead_id)
    cases = [
        ({"status": "won"}, 400, "VALIDATION_ERROR"),
        ({"id": "lead_nope", "status": "won"}, 404, "NOT_FOUND"),
        ({"email": "nobody@example.com", "status": "won"}, 404, "NOT_FOUND"),
        ({"id": lead_id}, 400, "VALIDATION_ERROR"),
        ({"id": lead_id, "status": "bogus"}, 400, "VALIDATION_ERROR"),
        ({"id": lead_id, "status": "open"}, 400, "VALIDATION_ERROR"),
        ({"id": lead_id, "value": "ten"}, 400, "VALIDATION_ERROR"),
    ]
    for body, status, code in cases:
        response = api.patch("/api/leads", json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
    # Refused, so nothing changed: the lead is as created and its only status is the first.
    assert get(api, lead_id) == before
    changes = fetch_rows(settings, "SELECT to_status FROM lead_status_changes")
    assert [row["to_status"] for row in changes] == ["open"]


def test_every_status_change_is_recorded(
    api: TestClient, settings: Settings, admin_key: str
) -> None:
    lead_id = create(api, name="A")
    api.patch("/api/leads", json={"id": lead_id, "status": "qualified"})
    api.patch("/api/leads", json={"id": lead_id, "status": "qualified", "note": "same status"})
    api.patch("/api/leads", json={"id": lead_id, "status": "won"})
    rows = fetch_rows(
        settings,
        "SELECT from_status, to_status, api_key_id, changed_at FROM lead_status_changes "
        "WHERE lead_id = :lead ORDER BY changed_at, id",
        lead=lead_id,
    )
    assert [(r["from_status"], r["to_status"]) for r in rows] == [
        (None, "open"),
        ("open", "qualified"),
        ("qualified", "won"),
    ]
    key_id = fetch_rows(settings, "SELECT id FROM api_keys")[0]["id"]
    assert all(r["api_key_id"] == key_id for r in rows)


# -------------------------------------------------------------------------------- isolation


def test_a_key_cannot_see_or_change_another_workspaces_leads(
    api: TestClient, client: TestClient, settings: Settings
) -> None:
    lead_id = create(api, name="Ada", email="ada@example.com", phone="+31612345678")
    intruder = {"X-API-KEY": make_key(settings, "intruder", "admin")}
    assert client.get("/api/leads", headers=intruder).json()["data"] == []
    assert client.get("/api/leads", headers=intruder).json()["meta"]["pagination"]["total"] == 0
    assert client.get(f"/api/leads/{lead_id}", headers=intruder).status_code == 404
    for ident in ({"id": lead_id}, {"email": "ada@example.com"}, {"phone": "+31612345678"}):
        response = client.patch("/api/leads", json={**ident, "status": "won"}, headers=intruder)
        assert response.status_code == 404, ident
    assert client.get("/api/leads?search=ada", headers=intruder).json()["data"] == []
    assert get(api, lead_id)["status"] == "open"


def test_the_utm_id_tag_is_kept_and_taken_from_the_visit(
    api: TestClient, settings: Settings
) -> None:
    own = create(api, name="Ada", utm_id="cmp-42")
    assert get(api, own)["utm_id"] == "cmp-42"
    visit_id = make_visit(settings, "acme", utm_source="google", utm_id="cmp-7")
    linked = create(api, name="Bo", sessionId=visit_id, utm_id="from-body")
    assert get(api, linked)["utm_id"] == "cmp-7"
    found = api.get("/api/leads", params={"utm_id": "cmp-42", "fields": "id"})
    assert [lead["id"] for lead in found.json()["data"]] == [own]
