"""Lead capture and the CRM: new and re-engaged leads sent by a job to a real local receiver,
each attempt logged; the CRM's callbacks and webhook, with their secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from tests.fixtures.factories import fetch_rows, make_form, make_site
from tests.fixtures.jobs import run_worker_until
from tests.fixtures.receiver import Answer, Receiver, receiver

PAGE = {"Origin": "https://shop.example"}
FORM = {"fields": [{"name": "EMAIL", "type": "email", "label": "Email"}]}
SECRET = "crm-callback-secret"


@pytest.fixture
def crm() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


def crm_settings(settings: Settings, url: str | None, **more: Any) -> Settings:
    return Settings(
        database_url=settings.database_url,
        crm_forward_url=url,
        jobs_poll_seconds=0.05,
        webhooks_timeout_seconds=2,
        **more,
    )


@pytest.fixture
def site(settings: Settings) -> str:
    key = make_site(settings, "acme", "shop.example")
    make_form(settings, key, FORM)
    return key


def submit(client: TestClient, site: str, **fields: str) -> None:
    answer = client.post(
        "/lead.capture", json={"siteKey": site, "formId": "enquiry", **fields}, headers=PAGE
    )
    assert answer.status_code == 200, answer.text


def jobs(settings: Settings) -> list[dict[str, Any]]:
    return fetch_rows(
        settings,
        "SELECT state, payload FROM jobs WHERE kind = 'forms.forward_lead' ORDER BY created_at",
    )


def test_new_and_reengaged_leads_are_sent_to_the_crm(
    settings: Settings, site: str, crm: Receiver
) -> None:
    configured = crm_settings(settings, crm.url, lead_reengage_hours=24)
    with TestClient(create_app(configured)) as client:
        submit(client, site, EMAIL="ada@example.com", FIRSTNAME="Ada", PROJECT="Riverside")
        submit(client, site, EMAIL="ada@example.com", PROJECT="Riverside", USER_MESSAGE="Again")
    assert len(jobs(settings)) == 1
    run_worker_until(configured, lambda: jobs(settings)[0]["state"] == "succeeded")
    assert len(crm.received) == 1
    body = json.loads(crm.received[0].body)
    assert (body["first_name"], body["email"], body["project_name"]) == (
        "Ada",
        "ada@example.com",
        "Riverside",
    )
    assert body["reengaged"] is False
    (lead,) = fetch_rows(settings, "SELECT id FROM leads")
    assert body["lead_id"] == lead["id"]
    (send,) = fetch_rows(settings, "SELECT status_code, attempt, url FROM crm_sends")
    assert (send["status_code"], send["attempt"], send["url"]) == (200, 1, crm.url)

    # With no re-engagement delay every later submission is sent again.
    eager = crm_settings(settings, crm.url, lead_reengage_hours=0)
    with TestClient(create_app(eager)) as client:
        submit(client, site, EMAIL="ada@example.com", PROJECT="Riverside", USER_MESSAGE="Later")
    queued = jobs(settings)
    assert len(queued) == 2
    assert json.loads(queued[1]["payload"])["reengaged"] is True


def test_a_crm_that_fails_is_tried_again_and_one_that_refuses_is_given_up(
    settings: Settings, site: str, crm: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = crm_settings(settings, crm.url)
    crm.answer(Answer(status=503), Answer(status=200))
    with TestClient(create_app(configured)) as client:
        submit(client, site, EMAIL="one@example.com")
    from leadline.forms import tasks

    monkeypatch.setattr(tasks, "exponential_backoff", lambda attempt: 0.05)
    run_worker_until(configured, lambda: jobs(settings)[0]["state"] == "succeeded")
    crm.answer(Answer(status=400, body=b"missing field"))
    with TestClient(create_app(configured)) as client:
        submit(client, site, EMAIL="two@example.com")
    run_worker_until(configured, lambda: jobs(settings)[1]["state"] == "dead")
    sends = fetch_rows(settings, "SELECT status_code, error FROM crm_sends ORDER BY sent_at")
    assert [send["status_code"] for send in sends] == [503, 200, 400]
    assert sends[2]["error"] == "missing field"


def test_nothing_is_sent_without_a_crm_url(
    client: TestClient, settings: Settings, site: str
) -> None:
    submit(client, site, EMAIL="ada@example.com")
    assert jobs(settings) == []


def test_the_crm_callbacks_and_webhook(settings: Settings, site: str) -> None:
    unconfigured = crm_settings(settings, None)
    with TestClient(create_app(unconfigured)) as client:
        refused = client.post("/webhooks/crm/lead", json={"crm_lead_id": "C1"})
        assert refused.status_code == 503
        assert "no CRM secret" in refused.json()["error"]

    configured = crm_settings(settings, None, crm_callback_secret=SECRET)
    bearer = {"Authorization": f"Bearer {SECRET}"}
    with TestClient(create_app(configured)) as client:
        submit(client, site, EMAIL="ada@example.com")
        (row,) = fetch_rows(settings, "SELECT id, lead_id FROM lead_submissions")
        wrong = client.post(
            "/lead.capture/crm-callback",
            json={"submission_id": row["id"], "crm_lead_id": "C1"},
            headers={"X-API-Key": "nope"},
        )
        assert wrong.status_code == 401
        stored = client.post(
            "/lead.capture/crm-callback",
            json={"submission_id": row["id"], "crm_lead_id": "C1"},
            headers={"X-API-Key": SECRET},
        )
        assert stored.status_code == 200, stored.text
        assert stored.json() == {"ok": True, "submission_id": row["id"], "lead_id": row["lead_id"]}
        made = client.post(
            "/lead.capture/make-callback",
            json={
                "lead_id": row["lead_id"],
                "execution_url": "https://eu1.make.com/x/1",
                "status": "ok",
            },
            headers=bearer,
        )
        assert made.status_code == 200, made.text
        missing = client.post(
            "/lead.capture/crm-callback", json={"submission_id": row["id"]}, headers=bearer
        )
        assert missing.status_code == 400
        assert "crm_lead_id is required" in missing.json()["error"]

        # The webhook falls back on the callback secret when it has none of its own.
        changed = client.post(
            "/webhooks/crm/lead",
            json={"crm_lead_id": "C1", "event_type": "status_changed", "status": "Site visit"},
            headers=bearer,
        )
        assert changed.json() == {"ok": True, "stored": True, "lead_id": row["lead_id"]}
        unknown = client.post("/webhooks/crm/lead", json={"crm_lead_id": "C404"}, headers=bearer)
        assert unknown.status_code == 200
        assert unknown.json()["stored"] is False
        garbage = client.post(
            "/webhooks/crm/lead",
            content=b"{nope",
            headers={**bearer, "Content-Type": "application/json"},
        )
        assert garbage.status_code == 400
    (submission,) = fetch_rows(
        settings, "SELECT crm_lead_id, make_execution_url, make_status FROM lead_submissions"
    )
    assert (submission["crm_lead_id"], submission["make_status"]) == ("C1", "ok")
    assert submission["make_execution_url"] == "https://eu1.make.com/x/1"
    (activity,) = fetch_rows(settings, "SELECT event_type, payload, lead_id FROM crm_activity")
    assert activity["event_type"] == "status_changed"
    assert json.loads(activity["payload"])["status"] == "Site visit"

    own_secret = crm_settings(
        settings, None, crm_callback_secret=SECRET, crm_webhook_secret="webhook-secret"
    )
    with TestClient(create_app(own_secret)) as client:
        assert (
            client.post(
                "/webhooks/crm/lead", json={"crm_lead_id": "C1"}, headers=bearer
            ).status_code
            == 401
        )
