"""The preflight alone: a pure function of a lead, its visit, the destinations and the
adapters, checked reason by reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from leadline.conversions import preflight as checks
from leadline.models import Lead, Visit
from tests.fixtures.conversions import LocalAds

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
ADAPTERS: dict[str, Any] = {"testads": LocalAds()}


def lead(**values: Any) -> Lead:
    base: dict[str, Any] = {
        "id": "lead_1",
        "workspace_id": "ws_1",
        "status": "qualified",
        "name": "Ada King Lovelace",
        "email": "ada@example.com",
        "gclid": "Gcl-1",
        "ad_user_data": True,
        "ad_platform": "googleads",
        "clicked_at": NOW - timedelta(days=3),
        "created_at": NOW - timedelta(days=3),
    }
    return Lead(**{**base, **values})


def target(**values: Any) -> checks.Target:
    base: dict[str, Any] = {
        "id": "cvd_1",
        "platform": "testads",
        "name": "Ads",
        "enabled": True,
        "status_map": {},
    }
    return checks.Target(**{**base, **values})


def run(
    subject: Lead, *targets: checks.Target, visit: Visit | None = None, **kw: Any
) -> list[checks.Check]:
    return checks.preflight(
        subject,
        visit,
        list(targets),
        ADAPTERS,
        status=kw.get("status", subject.status),
        occurred_at=kw.get("occurred_at", NOW - timedelta(hours=1)),
        now=NOW,
    )


def test_an_eligible_lead_maps_its_status_to_the_event() -> None:
    [check] = [c for c in run(lead(), target()) if c.destination_id]
    assert (check.state, check.reasons, check.event_name) == ("eligible", (), "qualified_lead")


def test_every_reason_is_listed_not_only_the_first() -> None:
    subject = lead(email=None, ad_user_data=None, clicked_at=NOW - timedelta(days=91))
    [check] = [
        c
        for c in run(subject, target(enabled=False), occurred_at=NOW - timedelta(days=8))
        if c.destination_id
    ]
    assert check.state == "blocked"
    assert check.reasons == (
        "destination_disabled",
        "consent_denied",
        "window_passed",
        "event_too_old",
        "missing_user_data",
    )


def test_only_a_grant_counts_as_consent() -> None:
    for flag in (None, False):
        [check] = [c for c in run(lead(ad_user_data=flag), target()) if c.destination_id]
        assert check.reasons == ("consent_denied",)


def test_without_a_click_time_the_leads_expiry_bounds_the_window() -> None:
    subject = lead(clicked_at=None, expires_at=NOW - timedelta(minutes=1))
    [check] = [c for c in run(subject, target(platform="testads")) if c.destination_id]
    # The lead's expiry is its own platform's (googleads): the test platform has none to use.
    assert check.reasons == ()
    visit = Visit(id="v1", clicked_at=NOW - timedelta(days=100))
    [late] = [c for c in run(subject, target(), visit=visit) if c.destination_id]
    assert late.reasons == ("window_passed",)


def test_platforms_of_carried_click_ids_without_a_destination() -> None:
    found = run(lead(msclkid="M-1", fbc="fb.1.1.x"))
    by_platform = {c.platform: c for c in found}
    assert set(by_platform) == {"google", "meta", "microsoft"}
    assert all(c.reasons[0] == "no_destination" for c in found)
    assert run(lead(gclid=None)) == []


def test_no_click_id_for_a_platform_that_needs_one() -> None:
    [check] = run(lead(gclid=None), target())
    assert check.reasons == ("no_click_id",)


def test_the_conversion_carries_what_the_adapter_needs() -> None:
    visit = Visit(id="v1", user_agent="Mozilla/5.0", country="NL", gclid="From-visit")
    conversion = checks.conversion_of(
        lead(
            gclid=None,
            value=Decimal("1.2E+3"),
            currency="EUR",
            website="https://shop.example",
            path="/buy",
        ),
        visit,
        key="k1",
        event_name="purchase",
        status="won",
        occurred_at=NOW,
    )
    assert conversion.click_ids == {"gclid": "From-visit"}
    assert (conversion.first_name, conversion.last_name) == ("Ada", "King Lovelace")
    assert (str(conversion.value), conversion.currency) == ("1200", "EUR")
    assert conversion.page_url == "https://shop.example/buy"
    assert (conversion.user_agent, conversion.country) == ("Mozilla/5.0", "NL")
    assert conversion.consent["ad_user_data"] is True


def test_the_dedupe_key_is_stable_per_lead_destination_and_status() -> None:
    key = checks.dedupe_key("lead_1", "cvd_1", "won")
    assert key == checks.dedupe_key("lead_1", "cvd_1", "won")
    assert (
        len(
            {
                key,
                checks.dedupe_key("lead_1", "cvd_1", "qualified"),
                checks.dedupe_key("lead_1", "cvd_2", "won"),
            }
        )
        == 3
    )
