"""Property-based run of the Octanist OpenAPI document: no 5xx, every response as documented."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from leadline.config import Settings
from tests.fixtures.database import empty_tables
from tests.fixtures.factories import make_key
from tests.fixtures.openapi import CHECKS, conforms, load
from tests.fixtures.server import live_server


@pytest.fixture(scope="module")
def octanist_server(database_url: str) -> Iterator[tuple[str, str]]:
    app_settings = Settings(database_url=database_url)
    key = make_key(app_settings, "fuzz", "admin")
    with live_server(app_settings) as base_url:
        # Leads to list, so list responses carry lead objects for the schema check to read.
        with httpx.Client(base_url=base_url, headers={"X-API-KEY": key}) as http:
            for n in range(3):
                created = http.post(
                    "/api/leads",
                    json={"name": f"Seed {n}", "email": f"seed{n}@example.com", "gclid": f"g{n}"},
                )
                assert created.status_code == 201, created.text
                lead_id = created.json()["data"]["id"]
                http.patch("/api/leads", json={"id": lead_id, "status": "won", "value": 10 * n})
            # Spend on the days the seeded leads came in, so reports carry rows to check.
            today = datetime.now(UTC).date()
            spend = http.post(
                "/api/ad-spend/import",
                json={
                    "rows": [
                        {
                            "date": (today - timedelta(days=d)).isoformat(),
                            "platform": "googleads",
                            "campaignId": f"c{d % 2}",
                            "campaignName": f"Campaign {d % 2}",
                            "spend": 12.5 * (d + 1),
                            "currency": "EUR",
                            "clicks": 10 + d,
                            "impressions": 100 * (d + 1),
                        }
                        for d in range(3)
                    ]
                },
            )
            assert spend.status_code == 200, spend.text
        yield base_url, key
    empty_tables(database_url)


@pytest.mark.slow
def test_octanist_api_conforms(octanist_server: tuple[str, str]) -> None:
    base_url, key = octanist_server
    schema = load(f"{base_url}/api/openapi.json")
    assert len(list(schema.get_all_operations())) >= 5
    conforms(schema, base_url=f"{base_url}/api", headers={"X-API-KEY": key}, max_examples=30)

    # Cases sure to answer with rows: lead objects and ad-spend report rows of every grouping.
    today = datetime.now(UTC).date()
    window = {"startDate": (today - timedelta(days=7)).isoformat(), "endDate": today.isoformat()}
    listed = schema["/leads"]["GET"].Case(query={"limit": 2})
    response = listed.call_and_validate(
        base_url=f"{base_url}/api", headers={"X-API-KEY": key}, checks=CHECKS
    )
    assert len(response.json()["data"]) == 2
    for group_by in ("date", "platform", "campaign"):
        case = schema["/ad-spend"]["GET"].Case(query={**window, "groupBy": group_by})
        response = case.call_and_validate(
            base_url=f"{base_url}/api", headers={"X-API-KEY": key}, checks=CHECKS
        )
        assert response.json()["data"], group_by
