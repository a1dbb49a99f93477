"""Conversions end to end: destinations over the Leadiosa API (secrets sealed, never shown),
uploads of status changes to a local ad platform, retries, per-row outcomes, expiring clicks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from leadline.kit.time import utcnow
from tests.fixtures.conversions import TOKEN, AdsServer, Line, ads_server, local_ads
from tests.fixtures.factories import (
    fetch_rows,
    make_key,
    make_visit,
    make_webhook_endpoint,
    set_lead_columns,
    set_workspace,
)
from tests.fixtures.jobs import run_worker_until
from tests.fixtures.leadiosa import bearer, error_of


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return Settings(
        database_url=settings.database_url,
        jobs_poll_seconds=0.05,
        conversions_retry_seconds=0.05,
        webhooks_allow_private=True,
    )


@pytest.fixture
def ads() -> Iterator[AdsServer]:
    with ads_server() as server, local_ads(server.url):
        yield server


@pytest.fixture
def api(fast: Settings, admin_key: str, ads: AdsServer) -> Iterator[TestClient]:
    with TestClient(create_app(fast)) as client:
        client.headers.update(bearer(admin_key))
        client.headers["X-API-KEY"] = admin_key
        yield client


def add_destination(api: TestClient, **extra: Any) -> dict[str, Any]:
    body = {
        "platform": "testads",
        "name": "Ads account",
        "settings": {"account": "acc-1"},
        "credentials": {"token": TOKEN},
        **extra,
    }
    answer = api.post("/api/v1/conversions/destinations", json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()["data"]
    return created


def new_lead(api: TestClient, **fields: Any) -> str:
    body = {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "gclid": "Gcl-AbC_123",
        "ad_user_data": "granted",
        "ad_storage": "granted",
        "value": 1200,
        "currency": "EUR",
        **fields,
    }
    answer = api.post("/api/leads", json=body)
    assert answer.status_code == 201, answer.text
    lead_id: str = answer.json()["data"]["id"]
    return lead_id


def set_status(api: TestClient, lead_id: str, status: str) -> None:
    answer = api.patch("/api/leads", json={"id": lead_id, "status": status})
    assert answer.status_code == 200, answer.text


def uploads(api: TestClient, lead_id: str) -> list[dict[str, Any]]:
    answer = api.get(f"/api/v1/leads/{lead_id}/conversions")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]["uploads"]
    return found


def settled(api: TestClient, lead_ids: list[str], count: int) -> bool:
    rows = [row for lead_id in lead_ids for row in uploads(api, lead_id)]
    return len(rows) >= count and all(row["state"] != "pending" for row in rows)


# ------------------------------------------------------------------------- destinations


def test_destinations_crud_never_show_the_credentials(api: TestClient, fast: Settings) -> None:
    created = add_destination(api, status_map={"won": "big_sale"})
    assert created["id"].startswith("cvd_")
    assert "credentials" not in created
    assert created["status_map"] == {"won": "big_sale"}
    assert TOKEN not in api.get(f"/api/v1/conversions/destinations/{created['id']}").text
    listed = api.get("/api/v1/conversions/destinations").json()
    assert [item["id"] for item in listed["data"]] == [created["id"]]
    assert TOKEN not in str(listed)

    # Sealed at rest: the stored column holds no trace of the token.
    stored = fetch_rows(fast, "SELECT credentials FROM conversion_destinations")
    assert len(stored) == 1
    assert stored[0]["credentials"]
    assert TOKEN not in stored[0]["credentials"]

    changed = api.patch(
        f"/api/v1/conversions/destinations/{created['id']}",
        json={"name": "Renamed", "enabled": False, "credentials": {"token": "new-token-1"}},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["data"]["name"], changed.json()["data"]["enabled"]) == ("Renamed", False)
    assert "new-token-1" not in changed.text
    assert (
        "new-token-1"
        not in fetch_rows(fast, "SELECT credentials FROM conversion_destinations")[0]["credentials"]
    )

    # The audit log says credentials were given, never what they are.
    audit = api.get("/api/v1/audit").text
    assert "conversion_destination.created" in audit
    assert TOKEN not in audit
    assert "new-token-1" not in audit

    gone = api.delete(f"/api/v1/conversions/destinations/{created['id']}")
    assert gone.json()["data"] == {"id": created["id"], "deleted": True}
    error_of(
        api.get(f"/api/v1/conversions/destinations/{created['id']}"), 404, "destination_not_found"
    )


def test_destinations_and_leads_are_bound_to_their_workspace(
    api: TestClient, fast: Settings
) -> None:
    created = add_destination(api)
    lead_id = new_lead(api)
    other = bearer(make_key(fast, "globex", "admin"))
    path = f"/api/v1/conversions/destinations/{created['id']}"
    error_of(api.get(path, headers=other), 404, "destination_not_found")
    error_of(api.patch(path, json={"name": "Mine"}, headers=other), 404, "destination_not_found")
    error_of(api.delete(path, headers=other), 404, "destination_not_found")
    error_of(api.get(f"/api/v1/leads/{lead_id}/conversions", headers=other), 404, "lead_not_found")
    assert api.get("/api/v1/conversions/destinations", headers=other).json()["data"] == []
    assert api.get(path).json()["data"]["name"] == "Ads account"


def test_bad_destinations_are_refused_naming_the_field(api: TestClient) -> None:
    unknown = error_of(
        api.post(
            "/api/v1/conversions/destinations",
            json={"platform": "myspace", "name": "x", "settings": {}, "credentials": {}},
        ),
        400,
        "validation_error",
    )
    assert "testads" in unknown["message"]
    missing = error_of(
        api.post(
            "/api/v1/conversions/destinations",
            json={
                "platform": "testads",
                "name": "x",
                "settings": {},
                "credentials": {"token": "t"},
            },
        ),
        400,
        "validation_error",
    )
    assert "settings.account" in missing["message"]
    bad_map = error_of(
        api.post(
            "/api/v1/conversions/destinations",
            json={
                "platform": "testads",
                "name": "x",
                "settings": {"account": "a"},
                "credentials": {"token": "t"},
                "status_map": {"archived": "x"},
            },
        ),
        400,
        "validation_error",
    )
    assert "status_map" in bad_map["message"]


def test_connection_test_asks_the_platform(api: TestClient) -> None:
    good = add_destination(api)
    answer = api.post(f"/api/v1/conversions/destinations/{good['id']}/test")
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["ok"] is True
    bad = add_destination(api, credentials={"token": "wrong"})
    refused = error_of(
        api.post(f"/api/v1/conversions/destinations/{bad['id']}/test"), 400, "validation_error"
    )
    assert "refused the token" in refused["message"]


def test_the_base_url_is_an_instance_setting(
    settings: Settings, admin_key: str, ads: AdsServer
) -> None:
    """LEADLINE_CONVERSIONS_BASE_URL_GOOGLE points Google's uploads elsewhere (here: at the
    local server, with the test platform standing in for Google)."""
    pointed = Settings(database_url=settings.database_url, conversions_base_url_google=ads.url)
    with local_ads("http://127.0.0.1:9", name="google"), TestClient(create_app(pointed)) as api:
        api.headers.update(bearer(admin_key))
        created = add_destination(api, platform="google")
        answer = api.post(f"/api/v1/conversions/destinations/{created['id']}/test")
        assert answer.status_code == 200, answer.text


# --------------------------------------------------------------------------- preflight


def backdate_history(settings: Settings, lead_id: str, when: datetime) -> None:
    from sqlalchemy import create_engine, update

    from leadline.models import LeadStatusChange

    engine = create_engine(settings.sync_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(LeadStatusChange)
                .where(LeadStatusChange.lead_id == lead_id)
                .values(changed_at=when)
            )
    finally:
        engine.dispose()


def test_preflight_lists_every_reason(api: TestClient, fast: Settings) -> None:
    destination = add_destination(api)
    paused = add_destination(api, name="Paused")
    api.patch(f"/api/v1/conversions/destinations/{paused['id']}", json={"enabled": False})
    # No consent, no email or phone, and the click was long ago.
    lead_id = new_lead(
        api, email=None, ad_user_data="denied", fbc="fb.1.1700000000000.AbC", msclkid="m-1"
    )
    long_ago = utcnow() - timedelta(days=120)
    set_lead_columns(fast, lead_id, clicked_at=long_ago, created_at=long_ago)
    backdate_history(fast, lead_id, long_ago)
    checks = api.get(f"/api/v1/leads/{lead_id}/conversions").json()["data"]["preflight"]
    by_destination = {check.get("destination_id"): check for check in checks}
    blocked = by_destination[destination["id"]]
    assert blocked["state"] == "blocked"
    assert blocked["reasons"] == [
        "consent_denied",
        "window_passed",
        "event_too_old",
        "missing_user_data",
    ]
    assert by_destination[paused["id"]]["reasons"][0] == "destination_disabled"
    # The platforms of its other click IDs have no destination (and whatever else applies).
    others = {check["platform"]: check for check in checks if "destination_id" not in check}
    assert set(others) >= {"google", "meta", "microsoft"}
    assert all(check["reasons"][0] == "no_destination" for check in others.values())

    clean = new_lead(api, email="bob@example.com")
    fine = api.get(f"/api/v1/leads/{clean}/conversions").json()["data"]["preflight"]
    ours = next(check for check in fine if check.get("destination_id") == destination["id"])
    assert (ours["state"], ours["reasons"]) == ("eligible", [])

    no_click = new_lead(api, gclid=None)
    missing = api.get(f"/api/v1/leads/{no_click}/conversions").json()["data"]["preflight"]
    ours = next(check for check in missing if check.get("destination_id") == destination["id"])
    assert ours["reasons"] == ["no_click_id"]


# ----------------------------------------------------------------------------- delivery


def test_a_status_change_is_uploaded_once(api: TestClient, fast: Settings, ads: AdsServer) -> None:
    destination = add_destination(api)
    lead_id = new_lead(api)
    set_status(api, lead_id, "qualified")
    run_worker_until(fast, lambda: settled(api, [lead_id], 1))
    assert len(ads.uploads) == 1
    sent = ads.uploads[0]["conversions"]
    assert [(row["event"], row["gclid"], row["value"]) for row in sent] == [
        ("qualified_lead", "Gcl-AbC_123", None)
    ]
    assert ads.headers[0]["authorization"] == f"Bearer {TOKEN}"
    [upload] = uploads(api, lead_id)
    assert (upload["state"], upload["destination_id"], upload["attempts"]) == (
        "sent",
        destination["id"],
        1,
    )

    # Won: a purchase with the lead's value.
    set_status(api, lead_id, "won")
    run_worker_until(fast, lambda: settled(api, [lead_id], 2))
    assert [
        (row["event"], row["value"], row["currency"]) for row in ads.uploads[1]["conversions"]
    ] == [("purchase", "1200", "EUR")]
    # Sending the same status again (the lead goes through the job twice) sends nothing new.
    fetch = fetch_rows(fast, "SELECT COUNT(*) AS n FROM jobs WHERE kind = 'conversions.plan'")
    assert fetch[0]["n"] == 2
    from leadline.db import Database
    from leadline.jobs import service as jobs

    async def replan(db: Database) -> None:
        async with db.transaction() as session:
            await jobs.enqueue(
                session,
                "conversions.plan",
                {"changes": [{"lead_id": lead_id, "status": "won", "at": "2026-12-07T09:00:00Z"}]},
                workspace_id=upload_workspace(fast, lead_id),
            )

    run_worker_until(
        fast,
        lambda: (
            fetch_rows(
                fast,
                "SELECT COUNT(*) AS n FROM jobs"
                " WHERE kind = 'conversions.plan' AND state = 'succeeded'",
            )[0]["n"]
            == 3
        ),
        before=replan,
    )
    assert len(ads.keys_sent()) == 2 == len(set(ads.keys_sent()))
    assert len(uploads(api, lead_id)) == 2
    actions = [event["action"] for event in api.get("/api/v1/audit").json()["data"]]
    assert actions.count("conversion.uploaded") == 2


def upload_workspace(settings: Settings, lead_id: str) -> str:
    found: str = fetch_rows(settings, "SELECT workspace_id FROM leads WHERE id = :id", id=lead_id)[
        0
    ]["workspace_id"]
    return found


def test_a_tracked_visits_click_and_consent_reach_the_platform(
    api: TestClient, fast: Settings, ads: AdsServer
) -> None:
    """A visit with a click ID and consent, a lead from it, qualified: the upload carries the
    visit's click ID verbatim."""
    add_destination(api)
    visit_id = make_visit(
        fast,
        gclid="Visit-GcLiD_42",
        ad_user_data=True,
        website="https://shop.example",
        path="/pricing",
        clicked_at=utcnow() - timedelta(days=2),
        user_agent="Mozilla/5.0 Test",
    )
    lead_id = new_lead(api, gclid=None, ad_user_data=None, sessionId=visit_id)
    set_status(api, lead_id, "qualified")
    run_worker_until(fast, lambda: settled(api, [lead_id], 1))
    [row] = ads.uploads[0]["conversions"]
    assert (row["gclid"], row["event"]) == ("Visit-GcLiD_42", "qualified_lead")
    [upload] = uploads(api, lead_id)
    assert upload["state"] == "sent"


def test_imported_won_leads_are_uploaded_and_new_leads_cost_no_job(
    api: TestClient, fast: Settings, ads: AdsServer
) -> None:
    add_destination(api)
    new_lead(api)  # open: nothing to send, and no job
    assert fetch_rows(fast, "SELECT COUNT(*) AS n FROM jobs WHERE kind = 'conversions.plan'") == [
        {"n": 0}
    ]
    csv = (
        b"email,gclid,ad_user_data,status,value\n"
        b"won@example.com,Imported-1,true,won,900\n"
        b"open@example.com,Imported-2,true,open,\n"
    )
    answer = api.post("/api/leads/import", files={"file": ("won.csv", csv, "text/csv")})
    assert answer.status_code == 200, answer.text
    run_worker_until(fast, lambda: len(ads.uploads) >= 1)
    [row] = ads.uploads[0]["conversions"]
    assert (row["gclid"], row["event"], row["value"]) == ("Imported-1", "purchase", "900")


def test_consent_denied_is_skipped_and_nothing_is_sent(
    api: TestClient, fast: Settings, ads: AdsServer
) -> None:
    add_destination(api)
    lead_id = new_lead(api, ad_user_data="denied")
    set_status(api, lead_id, "qualified")
    run_worker_until(fast, lambda: settled(api, [lead_id], 1))
    [upload] = uploads(api, lead_id)
    assert (upload["state"], upload["reasons"]) == ("skipped", ["consent_denied"])
    assert ads.uploads == []
    assert ads.headers == []


def test_an_upload_records_the_consent_the_ledger_gives_the_lead(
    api: TestClient, fast: Settings, ads: AdsServer
) -> None:
    add_destination(api)
    lead_id = new_lead(api, ad_user_data="denied")
    set_status(api, lead_id, "qualified")
    run_worker_until(fast, lambda: settled(api, [lead_id], 1))
    [row] = fetch_rows(fast, "SELECT consent FROM conversion_uploads WHERE lead_id = :l", l=lead_id)
    recorded = json.loads(row["consent"])
    [entry] = fetch_rows(fast, "SELECT id FROM consent_changes WHERE lead_id = :l", l=lead_id)
    assert recorded == {
        "entry_id": entry["id"],
        "flags": {
            "ad_personalization": None,
            "ad_storage": True,
            "ad_user_data": False,
            "analytics_storage": None,
        },
    }


def test_a_passing_failure_is_tried_again_then_sent(
    api: TestClient, fast: Settings, ads: AdsServer
) -> None:
    add_destination(api)
    ads.answer(Line(status=503), Line(status=429, headers={"Retry-After": "0.2"}))
    lead_id = new_lead(api)
    set_status(api, lead_id, "qualified")
    run_worker_until(fast, lambda: settled(api, [lead_id], 1))
    [upload] = uploads(api, lead_id)
    assert (upload["state"], upload["attempts"]) == ("sent", 3)
    assert len(ads.headers) == 3
    assert len(ads.uploads) == 1


def qualify_all(api: TestClient, fast: Settings, email: str) -> None:
    """One bulk update: every lead with ``email`` qualified in one transaction."""
    set_workspace(fast, "acme", allow_bulk_updates=True)
    answer = api.patch("/api/leads", json={"email": email, "status": "qualified"})
    assert answer.status_code == 200, answer.text


def test_a_partial_failure_is_recorded_per_row(
    api: TestClient, fast: Settings, ads: AdsServer
) -> None:
    add_destination(api)
    ads.answer(Line(errors={"Other-1": {"code": "UNPARSEABLE_GCLID", "message": "bad click id"}}))
    good = new_lead(api, email="team@example.com", gclid="Good-1")
    bad = new_lead(api, email="team@example.com", gclid="Other-1")
    qualify_all(api, fast, "team@example.com")
    run_worker_until(fast, lambda: settled(api, [good, bad], 2))
    # One request carried both; the platform took one and refused the other.
    assert [len(upload["conversions"]) for upload in ads.uploads] == [2]
    [sent] = uploads(api, good)
    [failed] = uploads(api, bad)
    assert (sent["state"], sent.get("error_code")) == ("sent", None)
    assert (failed["state"], failed["error_code"], failed["error_message"]) == (
        "failed",
        "UNPARSEABLE_GCLID",
        "bad click id",
    )
    assert failed["attempts"] == 1  # not a passing failure: never tried again


def test_batches_hold_at_most_what_the_platform_takes(
    api: TestClient, fast: Settings, ads: AdsServer
) -> None:
    add_destination(api)
    leads = [new_lead(api, email="crowd@example.com", gclid=f"Crowd-{n}") for n in range(3)]
    qualify_all(api, fast, "crowd@example.com")
    run_worker_until(fast, lambda: settled(api, leads, 3))
    assert sorted(len(upload["conversions"]) for upload in ads.uploads) == [1, 2]
    assert sorted(ads.keys_sent()) == sorted(uploads(api, lead)[0]["dedupe_key"] for lead in leads)


def later_deliveries(api: TestClient, after_seconds: float) -> list[dict[str, Any]]:
    """The delivery runs queued to start more than ``after_seconds`` from now."""
    answer = api.get("/api/v1/jobs", params={"kind": "conversions.deliver", "state": "queued"})
    assert answer.status_code == 200, answer.text
    soon = datetime.now(UTC) + timedelta(seconds=after_seconds)
    return [
        job
        for job in answer.json()["data"]
        if datetime.fromisoformat(job["run_at"].replace("Z", "+00:00")) > soon
    ]


def test_a_destination_sends_no_more_requests_a_minute_than_its_pace(
    api: TestClient, fast: Settings, ads: AdsServer
) -> None:
    paced = fast.model_copy(update={"conversions_requests_per_minute": 1})
    add_destination(api)
    leads = [new_lead(api, email="paced@example.com", gclid=f"Paced-{n}") for n in range(3)]
    qualify_all(api, paced, "paced@example.com")
    # Two batches are due (the test platform takes two at a time); the pace allows one request.
    run_worker_until(paced, lambda: bool(later_deliveries(api, 30)))
    assert [len(upload["conversions"]) for upload in ads.uploads] == [2]
    states = sorted(uploads(api, lead)[0]["state"] for lead in leads)
    assert states == ["pending", "sent", "sent"]


def test_a_platform_asking_to_slow_down_pauses_its_destination(
    api: TestClient, fast: Settings, ads: AdsServer
) -> None:
    add_destination(api)
    ads.answer(Line(status=429, headers={"Retry-After": "120"}))
    leads = [new_lead(api, email="slow@example.com", gclid=f"Slow-{n}") for n in range(3)]
    qualify_all(api, fast, "slow@example.com")
    run_worker_until(fast, lambda: bool(later_deliveries(api, 100)))
    # The first request was refused; the second batch was not sent into the pause.
    assert len(ads.headers) == 1
    assert all(uploads(api, lead)[0]["state"] == "pending" for lead in leads)


# ------------------------------------------------------------------------------ expiring


def test_expiring_clicks_are_listed_and_announced(
    api: TestClient, fast: Settings, admin_key: str, ads: AdsServer
) -> None:
    soon = new_lead(api, email="soon@example.com")
    later = new_lead(api, email="later@example.com", gclid="Later-1")
    won = new_lead(api, email="won@example.com", gclid="Won-1")
    now = utcnow()
    set_lead_columns(fast, soon, expires_at=now + timedelta(days=6, hours=12))
    set_lead_columns(fast, later, expires_at=now + timedelta(days=30))
    set_lead_columns(fast, won, expires_at=now + timedelta(days=3), status="won")
    listed = api.get("/api/v1/conversions/expiring").json()
    assert [item["lead_id"] for item in listed["data"]] == [soon]
    assert listed["pagination"] == {"has_more": False}

    # Pages, soonest first; a lead already uploaded somewhere is left out.
    sooner = new_lead(api, email="sooner@example.com", gclid="Sooner-1")
    sent = new_lead(api, email="sent@example.com", gclid="Sent-1")
    set_lead_columns(fast, sooner, expires_at=now + timedelta(days=1))
    set_lead_columns(fast, sent, expires_at=now + timedelta(days=2))
    add_destination(api)
    set_status(api, sent, "qualified")
    run_worker_until(fast, lambda: settled(api, [sent], 1))
    first = api.get("/api/v1/conversions/expiring", params={"limit": 1}).json()
    assert [item["lead_id"] for item in first["data"]] == [sooner]
    second = api.get(
        "/api/v1/conversions/expiring",
        params={"limit": 1, "after": first["pagination"]["next_cursor"]},
    ).json()
    assert second["data"] == []  # the uploaded lead's place
    assert second["pagination"]["has_more"] is True
    third = api.get(
        "/api/v1/conversions/expiring",
        params={"limit": 1, "after": second["pagination"]["next_cursor"]},
    ).json()
    assert [item["lead_id"] for item in third["data"]] == [soon]
    assert third["pagination"] == {"has_more": False}

    from tests.fixtures.receiver import receiver

    with receiver() as hook:
        make_webhook_endpoint(fast, admin_key, ["conversion.click_expiring"], url=hook.url)
        from leadline.db import Database
        from leadline.jobs import service as jobs

        # The daily schedule ran when the first worker started (before the endpoint existed).
        async def daily(db: Database) -> None:
            async with db.transaction() as session:
                await jobs.enqueue(session, "conversions.click_expiring", {})

        run_worker_until(fast, lambda: len(hook.received) >= 1, before=daily)
        import json

        bodies = [json.loads(received.body) for received in hook.received]
        assert {body["type"] for body in bodies} == {"conversion.click_expiring"}
        # soon only: sooner expires before the day announced, sent was uploaded.
        assert {body["data"]["lead"]["id"] for body in bodies} == {soon}
        assert bodies[0]["data"]["platform"] == "googleads"
        assert len(bodies) == 1


# --------------------------------------------------------------------------------- CLI


def test_cli_adds_lists_removes_and_preflights(cli: Any, fast: Settings, api: TestClient) -> None:
    from leadline.cli import app

    added = cli.invoke(
        app,
        [
            "conversions",
            "destinations",
            "add",
            "--workspace",
            "acme",
            "--platform",
            "testads",
            "--name",
            "From CLI",
            "--settings",
            '{"account": "acc-9"}',
        ],
        input='{"token": "cli-secret-1"}',
    )
    assert added.exit_code == 0, added.output
    destination_id = added.stdout.strip()
    assert destination_id.startswith("cvd_")
    listed = cli.invoke(app, ["conversions", "destinations", "list", "--workspace", "acme"])
    assert "From CLI" in listed.stdout
    assert "cli-secret-1" not in listed.stdout

    lead_id = new_lead(api, ad_user_data="denied")
    shown = cli.invoke(app, ["conversions", "preflight", "--lead", lead_id])
    assert shown.exit_code == 0, shown.output
    assert "blocked  consent_denied" in shown.stdout

    refused = cli.invoke(
        app,
        [
            "conversions",
            "destinations",
            "add",
            "--workspace",
            "acme",
            "--platform",
            "nope",
            "--name",
            "x",
            "--credentials",
            "{}",
        ],
    )
    assert refused.exit_code == 1
    assert "platform must be one of" in refused.output

    removed = cli.invoke(
        app, ["conversions", "destinations", "remove", destination_id, "--workspace", "acme"]
    )
    assert removed.exit_code == 0, removed.output
    assert (
        "no destinations"
        in cli.invoke(app, ["conversions", "destinations", "list", "--workspace", "acme"]).output
    )
