"""/api/v1/billing/subscription: the plan, the cycle and the usage, for those who may read it."""

from __future__ import annotations

from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.billing.service import cycle_of
from leadline.config import Settings
from leadline.kit.time import iso_millis, utcnow
from tests.fixtures.factories import make_key
from tests.fixtures.leadiosa import TIMESTAMP, bearer, error_of, has_rate_limit_headers

USAGE = ("conversations", "messages", "ai_tokens", "leads", "events")


def test_the_subscription_of_a_self_hosted_instance(
    settings: Settings, leadiosa: TestClient
) -> None:
    before = utcnow().date()
    answer = leadiosa.get("/api/v1/billing/subscription")
    assert answer.status_code == 200, answer.text
    assert has_rate_limit_headers(answer)
    found = answer.json()["data"]
    assert set(found) == {
        "plan",
        "provider",
        "billing_cycle_day",
        "cycle_start",
        "cycle_end",
        "usage",
        "assistant_tokens",
    }
    assert (found["plan"], found["provider"], found["billing_cycle_day"]) == (
        "self-hosted",
        "none",
        1,
    )
    assert TIMESTAMP.match(found["cycle_start"])
    # The calendar month of the day the request was answered (which may have just turned).
    months = {
        f"{day.replace(day=1).isoformat()}T00:00:00.000Z" for day in (before, utcnow().date())
    }
    assert found["cycle_start"] in months
    # No limit configured: each item has what was used, and no limit.
    assert found["usage"] == {name: {"used": 0} for name in USAGE}
    assert found["assistant_tokens"]["used"] == 0
    assert found["assistant_tokens"]["month"] in {month[:7] for month in months}
    assert "limit" not in found["assistant_tokens"]


def test_usage_is_counted_with_the_configured_limits(settings: Settings, admin_key: str) -> None:
    configured = Settings(
        database_url=settings.database_url,
        billing_plan="Growth",
        billing_cycle_day=31,
        billing_limit_leads=2,
        billing_limit_events=100_000,
        billing_limit_conversations=0,
    )
    before = utcnow().date()
    with TestClient(create_app(configured)) as client:
        for name in ("Ada", "Bo", "Cy"):
            made = client.post("/api/leads", json={"name": name}, headers={"X-API-KEY": admin_key})
            assert made.status_code == 201, made.text
        started = client.post(
            "/api/v1/conversations",
            json={"contact": {"name": "Di"}, "message": {"text": "Hello"}},
            headers=bearer(admin_key),
        )
        assert started.status_code == 201, started.text
        conversation = started.json()["data"]["id"]
        replied = client.post(
            f"/api/v1/conversations/{conversation}/messages",
            json={"text": "Hi Di"},
            headers=bearer(admin_key),
        )
        assert replied.status_code == 201, replied.text
        found = client.get("/api/v1/billing/subscription", headers=bearer(admin_key)).json()["data"]
    assert (found["plan"], found["billing_cycle_day"]) == ("Growth", 31)
    cycles = {cycle_of(day, 31) for day in (before, utcnow().date())}
    assert (found["cycle_start"], found["cycle_end"]) in {
        (iso_millis(cycle.starts_at), iso_millis(cycle.ends_at)) for cycle in cycles
    }
    # Used past its limit: reported, not refused.
    assert found["usage"] == {
        "conversations": {"used": 1, "limit": 0},
        "messages": {"used": 2},
        "ai_tokens": {"used": 0},
        "leads": {"used": 3, "limit": 2},
        "events": {"used": 0, "limit": 100_000},
    }


def test_integration_and_marketing_keys_may_not_read_it(
    settings: Settings, client: TestClient
) -> None:
    for role in ("integration", "marketing"):
        key = bearer(make_key(settings, "acme", role))
        error = error_of(client.get("/api/v1/billing/subscription", headers=key), 403, "forbidden")
        assert "billing:read" in error["message"]


def test_a_closed_workspace_still_reads_it(leadiosa: TestClient) -> None:
    assert leadiosa.post("/api/v1/workspace/close").status_code == 200
    answer = leadiosa.get("/api/v1/billing/subscription")
    assert answer.status_code == 200, answer.text
