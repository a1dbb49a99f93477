"""One person seeded in every table that declares personal data (through the public APIs
where one exists), then erased: afterwards no column of any table holds their email, their
phone (as written or normalised) or their name; only keyed hashes remain. The export before
erasure holds them from every one of those tables."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.audit import service as audit
from leadline.config import Settings
from leadline.kit.ids import new_id
from leadline.models import (
    AssistantDraft,
    Conversation,
    ConversionDestination,
    ConversionUpload,
    WebhookAttempt,
    WebhookDelivery,
)
from leadline.privacy.registry import subject_tables
from tests.fixtures.factories import fetch_rows, make_form, make_key, make_site, run_in_transaction
from tests.fixtures.leadiosa import bearer, make_job
from tests.fixtures.workspaces import CRM_SECRET, app_client

NAME = "Ada Lovelace"
EMAIL = "Ada.Lovelace@Analytical.example"
PHONE = "+44 20 7946 0018"
PHONE_E164 = "+442079460018"
HOST = "engines.example"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
PAGE = {"Origin": f"https://{HOST}", "User-Agent": BROWSER}
FORM = {
    "fields": [
        {"name": "FIRSTNAME", "label": "Name"},
        {"name": "EMAIL", "type": "email", "label": "Email"},
        {"name": "PHONE", "type": "tel", "label": "Phone"},
        {"name": "message", "label": "Message"},
    ]
}
# What must be gone: the email in any case, the phone as written, normalised and as digits,
# and the name (the surname alone, which nothing else in the world holds).
# Her ad click ids too: they identify her click.
NEEDLES = (EMAIL.lower(), PHONE, PHONE_E164, PHONE_E164[1:], "lovelace", "click-ada")


@dataclass(frozen=True)
class Seeded:
    admin: str
    lead_id: str
    contact_id: str
    conversation_id: str


def _ok(answer: Any, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    found: dict[str, Any] = answer.json()
    return found


def seed(client: TestClient, settings: Settings) -> Seeded:
    """Ada, everywhere: tracked on the site with a click id, her form capture, her lead in the
    pipeline (through Octanist, idempotently, with a status change and a conversion), the
    CRM's records of her, her conversation in the inbox with messages and notes, and the
    webhooks, jobs and stored answers that copied her data."""
    admin = make_key(settings, "acme", "admin")
    site_key = make_site(settings, "acme", HOST)
    make_form(settings, site_key, FORM)
    _ok(
        client.post(
            "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=bearer(admin)
        ),
        201,
    )
    # PulseGate: a visit from an ad click, with events (one page's address carries her email).
    started = _ok(
        client.post(
            "/track/session/start",
            json={"siteKey": site_key, "url": f"https://{HOST}/?gclid=CLICK-ADA-1"},
            headers=PAGE,
        )
    )
    visit_id, visitor_id = started["session_id"], started["visitor_id"]
    events = [
        {"type": "page_view", "id": "e1", "url": f"https://{HOST}/thanks?email={EMAIL}"},
        {"type": "scroll", "id": "e2", "data": {"depth": 80}},
    ]
    _ok(
        client.post(
            "/track/events/batch",
            json={"siteKey": site_key, "sessionId": visit_id, "events": events},
            headers=PAGE,
        )
    )
    # The form capture: a submission and a lead.
    submission_id = _ok(
        client.post(
            "/lead.capture",
            json={
                "siteKey": site_key,
                "formId": "enquiry",
                "FIRSTNAME": NAME,
                "EMAIL": EMAIL,
                "PHONE": PHONE,
                "message": f"Call me on {PHONE}, {NAME}",
                "__visitor_id": visitor_id,
                "__session_id": visit_id,
            },
            headers=PAGE,
        )
    )["submission_id"]
    octanist = {"X-API-KEY": admin}
    # Octanist: the same person again, with click ids, and an idempotency key (its stored
    # answer holds her data).
    lead = _ok(
        client.post(
            "/api/leads",
            json={
                "name": NAME,
                "email": EMAIL.upper(),
                "phone": PHONE,
                "gclid": "CLICK-ADA-2",
                "fbc": "fb.1.1.ADA",
                "note": f"{NAME} wants a demo",
            },
            headers={**octanist, "Idempotency-Key": "ada-once"},
        ),
        201,
    )["data"]
    _ok(
        client.patch("/api/leads", json={"id": lead["id"], "status": "qualified"}, headers=octanist)
    )
    # The CRM: its id for the submission, and what it reported.
    crm = bearer(CRM_SECRET)
    _ok(
        client.post(
            "/lead.capture/crm-callback",
            json={"submission_id": submission_id, "crm_lead_id": "crm-ada"},
            headers=crm,
        )
    )
    _ok(
        client.post(
            "/webhooks/crm/lead", json={"crm_lead_id": "crm-ada", "email": EMAIL}, headers=crm
        )
    )
    # Leadiosa: her conversation, a reply, a note about her.
    conversation = _ok(
        client.post(
            "/api/v1/conversations",
            json={
                "contact": {"email": EMAIL, "name": NAME, "phone": PHONE},
                "message": {"text": f"Hello, this is {NAME}, {PHONE}"},
                "subject": f"{NAME}'s engine",
            },
            headers=bearer(admin),
        ),
        201,
    )["data"]
    conversation_id, contact_id = conversation["id"], conversation["contact_id"]
    _ok(
        client.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"text": f"Hi {NAME}!"},
            headers={**bearer(admin), "Idempotency-Key": "reply-to-ada"},
        ),
        201,
    )
    _ok(
        client.post(
            f"/api/v1/conversations/{conversation_id}/notes",
            json={"text": f"{NAME} prefers {EMAIL}"},
            headers=bearer(admin),
        ),
        201,
    )
    # A pending job that carries her (as a CRM forward or an export would).
    make_job(
        settings, "acme", "test.record", state="queued", payload={"email": EMAIL, "name": NAME}
    )
    run_in_transaction(
        settings, lambda session: _rows_without_an_api(session, lead["id"], conversation_id)
    )
    return Seeded(admin, lead["id"], contact_id, conversation_id)


async def _rows_without_an_api(session: AsyncSession, lead_id: str, conversation_id: str) -> None:
    """What only a worker or an installed platform writes: a webhook attempt whose receiver
    echoed the payload, a conversion upload, an assistant draft."""
    ws = await session.scalar(
        select(Conversation.workspace_id).where(Conversation.id == conversation_id)
    )
    assert ws is not None
    delivery = await session.scalar(
        select(WebhookDelivery.id).where(WebhookDelivery.workspace_id == ws).limit(1)
    )
    assert delivery is not None, "no webhook delivery was queued"
    session.add(
        WebhookAttempt(
            id=new_id("wha"),
            delivery_id=delivery,
            number=1,
            status=500,
            response_excerpt=f'{{"echo":"{EMAIL}"}}',
        )
    )
    destination = ConversionDestination(
        id=new_id("cvd"), workspace_id=ws, platform="google", name="Ads", credentials=""
    )
    session.add(destination)
    await session.flush()
    session.add(
        ConversionUpload(
            id=new_id("cvu"),
            workspace_id=ws,
            destination_id=destination.id,
            lead_id=lead_id,
            status="qualified",
            event_name="qualified_lead",
            dedupe_key=new_id("key"),
            state="failed",
            error_message=f"rejected: {EMAIL}",
        )
    )
    session.add(
        AssistantDraft(
            id=new_id("drf"),
            workspace_id=ws,
            conversation_id=conversation_id,
            message_id=new_id("msg"),
            text=f"Dear {NAME}, within 30 days.",
        )
    )


def traces(settings: Settings) -> list[str]:
    """Every table and column (of every table in the database, declared or not) that holds
    one of the needles."""
    engine = create_engine(settings.sync_url)
    found = []
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')).mappings():
                    for column, value in row.items():
                        shown = (value.hex() if isinstance(value, bytes) else str(value)).lower()
                        found.extend(
                            f"{table}.{column}: {needle}"
                            for needle in NEEDLES
                            if needle.lower() in shown
                        )
    finally:
        engine.dispose()
    return sorted(set(found))


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with app_client(settings) as test_client:
        yield test_client


def test_a_person_seeded_everywhere_is_exported_then_erased_without_a_trace(
    client: TestClient, settings: Settings
) -> None:
    seeded = seed(client, settings)
    before = traces(settings)
    # The seeding reached every table that can hold a person (or the test proves nothing).
    holding = {entry.split(".")[0] for entry in before}
    declared = {one.name for one in subject_tables()}
    # (Status changes and CRM sends point to her rows and hold nothing of hers; a delivery
    # holds its receiver's errors, none yet; her consent ledger entries name her visit and
    # visitor by id only.)
    unseeded = {"consent_changes", "crm_sends", "lead_status_changes", "webhook_deliveries"}
    assert declared - holding <= unseeded, (declared - holding - unseeded, before)

    exported = client.post(
        "/api/v1/privacy/exports",
        json={"email": EMAIL, "phone": PHONE},
        headers=bearer(seeded.admin),
    )
    assert exported.status_code == 200, exported.text
    document = exported.json()
    tables = document["tables"]
    assert set(tables) == declared
    assert seeded.lead_id in {lead["id"] for lead in tables["leads"]}
    assert {lead["email"].lower() for lead in tables["leads"]} == {EMAIL.lower()}
    assert {n["text"] for n in tables["notes"]} == {f"{NAME} prefers {EMAIL}"}
    assert all(tables[name] for name in declared - unseeded), {
        name for name in declared if not tables[name]
    }
    # Her visit's start is in the ledger, and so in the export.
    assert tables["consent_changes"], "no consent ledger entry exported"

    erased = client.post(
        "/api/v1/privacy/erasures", json={"email": EMAIL}, headers=bearer(seeded.admin)
    )

    assert erased.status_code == 201, erased.text
    receipt = erased.json()["data"]
    assert receipt["matched"] == {"email": "A***@Analytical.example"}
    assert receipt["counts"]["leads"] == len(tables["leads"])
    assert receipt["counts"]["contacts"] == 1
    assert receipt["counts"]["messages"] == 2
    left = traces(settings)
    assert left == [], left
    tombstones = client.get(
        "/api/v1/privacy/erasures/" + receipt["id"], headers=bearer(seeded.admin)
    )
    assert tombstones.json()["data"] == receipt
    # The audit log says who erased and exported, and its chain still verifies.
    report = run_in_transaction(settings, lambda session: audit.check_chains(session))
    assert report.problems == []
    actions = {row["action"] for row in fetch_rows(settings, "SELECT action FROM audit_events")}
    assert {"person.erased", "person.exported"} <= actions
