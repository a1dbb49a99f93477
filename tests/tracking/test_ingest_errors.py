"""Refused tracking and capture requests counted per site and hour: in memory on the request
path, then added to ingest_errors_hourly by a flush (a minute later, and at shutdown)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from leadline.db import Database
from leadline.tracking.ingest_errors import IngestErrors
from tests.fixtures.factories import fetch_rows, make_form, make_site

SHOP = {"Origin": "https://shop.example"}
ELSEWHERE = {"Origin": "https://evil.example"}


def stored(settings: Settings) -> list[tuple[str, int]]:
    rows = fetch_rows(
        settings,
        "SELECT s.site_key, e.errors FROM ingest_errors_hourly e JOIN sites s ON s.id = e.site_id",
    )
    return sorted((row["site_key"], row["errors"]) for row in rows)


def test_counts_are_added_to_their_site_and_hour(settings: Settings) -> None:
    shop = make_site(settings, "acme", "shop.example")
    blog = make_site(settings, "acme", "blog.example")
    ten = datetime(2026, 12, 7, 10, 5, tzinfo=UTC)
    eleven = datetime(2026, 12, 7, 11, 59, tzinfo=UTC)

    async def run() -> tuple[int, int]:
        db = Database(settings)
        errors = IngestErrors(db, flush_after=3600)
        try:
            for moment in (ten, ten, eleven):
                errors.note(shop, moment)
            errors.note(blog, ten)
            errors.note("no-such-site", ten)
            errors.note(None, ten)
            first = await errors.flush()
            errors.note(shop, ten)
            second = await errors.flush()
            await errors.close()
            return first, second
        finally:
            await db.dispose()

    assert asyncio.run(run()) == (3, 1)
    rows = fetch_rows(
        settings,
        "SELECT s.site_key, e.hour, e.errors FROM ingest_errors_hourly e "
        "JOIN sites s ON s.id = e.site_id",
    )
    found = sorted((row["site_key"] == shop, str(row["hour"])[:13], row["errors"]) for row in rows)
    assert found == [
        (False, "2026-12-07 10", 1),
        (True, "2026-12-07 10", 3),
        (True, "2026-12-07 11", 1),
    ]


def test_a_flush_follows_the_first_refusal(settings: Settings) -> None:
    shop = make_site(settings, "acme", "shop.example")

    async def run() -> None:
        db = Database(settings)
        errors = IngestErrors(db, flush_after=0.01)
        try:
            errors.note(shop)
            errors.note(shop)
            for _ in range(500):
                await asyncio.sleep(0.01)
                if not errors.counts and errors._flushing and errors._flushing.done():
                    break
        finally:
            await db.dispose()

    asyncio.run(run())
    assert stored(settings) == [(shop, 2)]


def test_refused_tracking_and_captures_of_a_site_are_counted(settings: Settings) -> None:
    shop = make_site(settings, "acme", "shop.example")
    make_form(settings, shop, {"fields": [{"name": "EMAIL", "type": "email", "label": "Email"}]})
    with TestClient(create_app(settings)) as client:
        ok = client.post("/track/session/start", json={"siteKey": shop}, headers=SHOP)
        assert ok.status_code == 200
        # A page of a domain the site does not list; a body the tracker never sends.
        assert (
            client.post(
                "/track/session/start", json={"siteKey": shop}, headers=ELSEWHERE
            ).status_code
            == 403
        )
        broken = client.post(
            "/track/events/batch", json={"siteKey": shop, "events": "nope"}, headers=SHOP
        )
        assert broken.status_code == 400
        # A capture from a page elsewhere.
        capture = client.post(
            "/lead.capture",
            json={"siteKey": shop, "formId": "enquiry", "EMAIL": "a@b.example"},
            headers=ELSEWHERE,
        )
        assert capture.status_code == 403
        # Not counted: no site named, or none such.
        assert client.post("/track/session/start", content=b"{", headers=SHOP).status_code == 400
        unknown = client.post("/track/session/start", json={"siteKey": "LL-NOPE"}, headers=SHOP)
        assert unknown.status_code == 404
        counts: IngestErrors = client.app_state["ingest_errors"]
        assert sum(n for (key, _), n in counts.counts.items() if key == shop) == 3
    # Written at shutdown.
    assert [key for key, _ in stored(settings)] == [shop]
    assert sum(errors for _, errors in stored(settings)) == 3
