"""The /track/* endpoints: visits with their attribution and consent, events, engagement,
origins, limits, bad input, and the handoff of a visit's attribution to a lead."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadline.app import create_app
from leadline.config import Settings
from leadline.tracking.engagement import engagement
from tests.fixtures.factories import fetch_rows, make_site

ORIGIN = {"Origin": "https://shop.example", "User-Agent": "Mozilla/5.0 (X11; Linux) Firefox/140"}
UUID = re.compile(r"^[0-9a-f-]{36}$")


@pytest.fixture
def site(settings: Settings) -> str:
    return make_site(settings, "acme", "shop.example", "*.shop.example")


def start(client: TestClient, site_key: str, **body: Any) -> dict[str, Any]:
    payload = {"siteKey": site_key, "url": "https://shop.example/", **body}
    response = client.post("/track/session/start", json=payload, headers=ORIGIN)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def visit_row(settings: Settings, visit_id: str) -> dict[str, Any]:
    (row,) = fetch_rows(settings, "SELECT * FROM visits WHERE id = :id", id=visit_id)
    return row


def test_a_visit_keeps_its_click_ids_tags_and_consent(
    client: TestClient, settings: Settings, site: str
) -> None:
    answer = start(
        client,
        site,
        url="https://shop.example/pricing?gclid=Cj0KCQ&utm_source=google&utm_medium=cpc"
        "&utm_campaign=spring&ScCid=sc-1&fbclid=IwAR1",
        referrer="https://www.google.com/",
        consent={
            "mode": "auto",
            "ad_storage": True,
            "ad_user_data": True,
            "ad_personalization": False,
            "analytics_storage": False,
            "source": "gcm",
        },
        ga={"clientId": "123.456", "sessionId": "1700000000"},
        fbp="fb.1.1700000000000.123",
    )
    assert set(answer) == {"session_id", "visitor_id", "timestamp"}
    assert UUID.match(answer["session_id"])
    row = visit_row(settings, answer["session_id"])
    assert (row["gclid"], row["sccid"], row["utm_source"], row["utm_campaign"]) == (
        "Cj0KCQ",
        "sc-1",
        "google",
        "spring",
    )
    assert re.match(r"^fb\.1\.\d{13}\.IwAR1$", row["fbc"])
    assert (row["website"], row["path"], row["channel"]) == (
        "https://shop.example",
        "/pricing",
        "paid",
    )
    assert (row["ad_storage"], row["ad_personalization"], row["consent_source"]) == (
        True,
        False,
        "gcm",
    )
    assert (row["ga4cid"], row["ga4sid"], row["fbp"]) == (
        "123.456",
        "1700000000",
        "fb.1.1700000000000.123",
    )
    assert row["clicked_at"] is not None
    assert not row["identified"]  # no analytics consent: the server derived the visitor


def test_cors_and_preflight(client: TestClient, site: str) -> None:
    preflight = client.options("/track/events/batch", headers=ORIGIN)
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "X-Visitor-ID" in preflight.headers["access-control-allow-headers"]
    response = client.post(
        "/track/session/start",
        json={"siteKey": site, "url": "https://shop.example/"},
        headers=ORIGIN,
    )
    assert response.headers["access-control-allow-origin"] == "*"


def test_origins_and_site_keys_are_checked(client: TestClient, site: str) -> None:
    body = {"siteKey": site, "url": "https://evil.example/"}
    elsewhere = client.post(
        "/track/session/start", json=body, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403
    assert "evil.example" in elsewhere.json()["error"]
    assert client.post("/track/session/start", json=body).status_code == 403  # no Origin
    sub = client.post(
        "/track/session/start", json=body, headers={"Origin": "https://m.shop.example"}
    )
    assert sub.status_code == 200
    unknown = client.post("/track/session/start", json={"siteKey": "LL-NOPE"}, headers=ORIGIN)
    assert (unknown.status_code, unknown.json()) == (404, {"error": "unknown siteKey LL-NOPE"})


def test_cookieless_visitors_are_derived_and_visits_resume(
    client: TestClient, settings: Settings, site: str
) -> None:
    first = start(client, site)
    again = start(client, site)
    assert first["visitor_id"].startswith("anon_")
    assert again == {**first, "timestamp": again["timestamp"]}  # same visit, resumed
    clicked = start(client, site, url="https://shop.example/?gclid=new")
    assert clicked["session_id"] != first["session_id"]  # a new ad click starts a new visit
    assert clicked["visitor_id"] == first["visitor_id"]
    other_browser = client.post(
        "/track/session/start",
        json={"siteKey": site, "url": "https://shop.example/"},
        headers={**ORIGIN, "User-Agent": "Other/1.0"},
    ).json()
    assert other_browser["visitor_id"] != first["visitor_id"]


def test_consented_visitor_ids_are_kept(client: TestClient, settings: Settings, site: str) -> None:
    answer = start(client, site, visitorId="v_browser_123", consent={"mode": "granted"})
    assert answer["visitor_id"] == "v_browser_123"
    row = visit_row(settings, answer["session_id"])
    assert (row["identified"], row["analytics_storage"], row["ad_storage"]) == (True, True, True)
    denied = start(client, site, visitorId="v_browser_123", consent={"mode": "denied"})
    assert denied["visitor_id"].startswith("anon_")


CONSENT_FLAGS = ("ad_storage", "ad_user_data", "ad_personalization", "analytics_storage")


def test_consent_flags_in_consent_mode_words_store_as_booleans(
    client: TestClient, settings: Settings, site: str
) -> None:
    cases = [
        (("granted", "denied", None, "granted"), (True, False, None, True)),
        (("denied", "granted", "denied", "denied"), (False, True, False, False)),
    ]
    for number, (words, booleans) in enumerate(cases):
        for flags in (words, booleans):
            # A browser of its own each time: a cookieless visitor's next start within the
            # visit's time would resume the visit it already has.
            browser = {**ORIGIN, "User-Agent": f"{ORIGIN['User-Agent']} case/{number}{flags[0]}"}
            response = client.post(
                "/track/session/start",
                json={
                    "siteKey": site,
                    "url": "https://shop.example/",
                    "consent": {**dict(zip(CONSENT_FLAGS, flags, strict=True)), "source": "gcm"},
                },
                headers=browser,
            )
            assert response.status_code == 200, response.text
            row = visit_row(settings, response.json()["session_id"])
            assert tuple(row[name] for name in CONSENT_FLAGS) == booleans
            assert (row["consent_source"], row["identified"]) == ("gcm", booleans[3])
    assert fetch_rows(settings, "SELECT count(*) AS n FROM visits")[0]["n"] == 4


def test_an_unknown_consent_word_is_refused_and_nothing_stored(
    client: TestClient, settings: Settings, site: str
) -> None:
    response = client.post(
        "/track/session/start",
        json={"siteKey": site, "url": "https://shop.example/", "consent": {"ad_storage": "maybe"}},
        headers=ORIGIN,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(response.json()) == {"error"}
    assert error == "invalid body: Invalid enum value 'maybe' - at `$.consent.ad_storage`"
    assert fetch_rows(settings, "SELECT count(*) AS n FROM visits")[0]["n"] == 0
    assert fetch_rows(settings, "SELECT count(*) AS n FROM visitors")[0]["n"] == 0


def batch(client: TestClient, site: str, visit_id: str, events: list[dict[str, Any]]) -> Any:
    return client.post(
        "/track/events/batch",
        content=json.dumps({"siteKey": site, "sessionId": visit_id, "events": events}),
        headers={**ORIGIN, "Content-Type": "text/plain;charset=UTF-8"},  # as sendBeacon sends
    )


def test_events_are_stored_once_and_counted(
    client: TestClient, settings: Settings, site: str
) -> None:
    visit_id = start(client, site)["session_id"]
    events = [
        {"id": "e1", "type": "page_view", "ts": 1, "url": "/"},
        {"id": "e2", "type": "click", "data": {"x": 1, "y": 2, "selector": "a.buy"}},
        {"id": "e3", "type": "scroll", "data": {"depth": 60}},
        {"id": "e4", "type": "click"},
    ]
    first = batch(client, site, visit_id, events)
    assert first.status_code == 200, first.text
    assert first.json()["accepted"] == 4
    assert batch(client, site, visit_id, events).json()["accepted"] == 0  # sent twice
    single = client.post(
        "/track/event",
        json={"siteKey": site, "sessionId": visit_id, "id": "e5", "type": "page_view"},
        headers=ORIGIN,
    )
    assert single.json()["accepted"] == 1
    stored = fetch_rows(settings, "SELECT client_id, type, data FROM events ORDER BY id")
    assert [row["client_id"] for row in stored] == ["e1", "e2", "e3", "e4", "e5"]
    assert json.loads(stored[1]["data"]) == {"x": 1, "y": 2, "selector": "a.buy"}
    row = visit_row(settings, visit_id)
    assert (row["events"], row["page_views"], row["clicks"], row["max_scroll"]) == (5, 2, 2, 60)


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "empty"),
        (json.dumps({"sessionId": "x", "events": [{"type": "a"}]}).encode(), 400, "siteKey"),
        (json.dumps({"siteKey": 5, "sessionId": "x", "events": []}).encode(), 400, "siteKey"),
        (json.dumps({"siteKey": "k", "sessionId": "x", "events": []}).encode(), 400, "events"),
        (
            json.dumps(
                {"siteKey": "k", "sessionId": "x", "events": [{"type": "a"}] * 101}
            ).encode(),
            400,
            "events",
        ),
        (
            json.dumps({"siteKey": "k", "sessionId": "x", "events": [{"type": 7}]}).encode(),
            400,
            "type",
        ),
        (
            json.dumps(
                {
                    "siteKey": "k",
                    "sessionId": "x",
                    "events": [{"type": "a", "data": {"s": "x" * 1_000_000}}],
                }
            ).encode(),
            413,
            "bytes",
        ),
    ],
)
def test_bad_batches_are_refused_whole(
    client: TestClient, settings: Settings, site: str, body: bytes, status: int, fragment: str
) -> None:
    response = client.post("/track/events/batch", content=body, headers=ORIGIN)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]
    assert fetch_rows(settings, "SELECT count(*) AS n FROM events")[0]["n"] == 0


def test_one_bad_event_stores_nothing(client: TestClient, settings: Settings, site: str) -> None:
    visit_id = start(client, site)["session_id"]
    events = [
        {"id": "ok", "type": "page_view"},
        {"id": "big", "type": "x", "data": {"s": "y" * 20_000}},
    ]
    response = batch(client, site, visit_id, events)
    assert response.status_code == 400
    assert "at most 16384" in response.json()["error"]
    assert fetch_rows(settings, "SELECT count(*) AS n FROM events")[0]["n"] == 0
    unknown = batch(client, site, "no-such-session", [{"type": "page_view"}])
    assert unknown.status_code == 404


def test_nul_characters_are_refused_on_every_endpoint(
    client: TestClient, settings: Settings, site: str
) -> None:
    """PostgreSQL cannot store NUL: it is a 400 up front, never a failed write."""
    visit_id = start(client, site)["session_id"]
    bodies = {
        "/track/session/start": {"siteKey": site, "url": "https://shop.example/\u0000"},
        "/track/event": {"siteKey": site, "sessionId": visit_id, "type": "a\u0000b"},
        "/track/events/batch": {
            "siteKey": site,
            "sessionId": visit_id,
            "events": [{"type": "click", "url": "/a\u0000", "data": {"k": "\u0000"}}],
        },
        "/track/session/end": {"siteKey": site, "sessionId": visit_id + "\u0000"},
    }
    for path, body in bodies.items():
        response = client.post(path, json=body, headers=ORIGIN)
        assert response.status_code == 400, (path, response.text)
        assert "NUL" in response.json()["error"]
    assert fetch_rows(settings, "SELECT count(*) AS n FROM events")[0]["n"] == 0
    assert fetch_rows(settings, "SELECT count(*) AS n FROM visits")[0]["n"] == 1


def test_a_backslash_before_u0000_is_text_not_nul(
    client: TestClient, settings: Settings, site: str
) -> None:
    """The letters \\u0000 after an escaped backslash are text; after two escaped ones the
    escape is a NUL again."""
    visit_id = start(client, site)["session_id"]
    texts = ["C:\\u0000", "a\\\\u0000", "\\\u0000"]  # \u0000, \\u0000, \ and a NUL
    answers = [
        client.post(
            "/track/event",
            json={"siteKey": site, "sessionId": visit_id, "type": "note", "data": {"t": text}},
            headers=ORIGIN,
        )
        for text in texts
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 400]
    stored = fetch_rows(settings, "SELECT data FROM events ORDER BY id")
    assert [json.loads(row["data"])["t"] for row in stored] == texts[:2]


def test_an_events_time_is_stored_as_the_moment_the_browser_gave(
    client: TestClient, settings: Settings, site: str
) -> None:
    """``ts`` (epoch milliseconds) is stored as that moment, in UTC, on both databases; a time
    more than a day off is replaced by the time it was received."""
    from datetime import UTC, datetime, timedelta

    visit_id = start(client, site)["session_id"]
    sent = datetime.now(UTC).replace(microsecond=123_000) - timedelta(minutes=5)
    far = sent - timedelta(days=3)
    events = [
        {"id": "t1", "type": "a", "ts": int(sent.timestamp() * 1000)},
        {"id": "t2", "type": "b", "ts": int(far.timestamp() * 1000)},
    ]
    assert batch(client, site, visit_id, events).status_code == 200
    rows = fetch_rows(settings, "SELECT occurred_at, received_at FROM events ORDER BY client_id")

    def moment(value: Any) -> datetime:
        found = datetime.fromisoformat(value) if isinstance(value, str) else value
        return found if found.tzinfo else found.replace(tzinfo=UTC)

    assert moment(rows[0]["occurred_at"]) == sent
    assert moment(rows[1]["occurred_at"]) == moment(rows[1]["received_at"])
    assert abs(moment(rows[1]["received_at"]) - datetime.now(UTC)) < timedelta(minutes=1)


def test_event_data_that_is_not_utf8_or_not_an_object_is_refused(
    client: TestClient, settings: Settings, site: str
) -> None:
    """``data`` is stored as sent, so it is checked as sent: a JSON object, in UTF-8."""
    visit_id = start(client, site)["session_id"]
    ids = f'"siteKey":"{site}","sessionId":"{visit_id}"'.encode()
    for data, message in ((b'{"x":"\xff\xfe"}', "not UTF-8"), (b"[1, 2]", "a JSON object")):
        single = b"{" + ids + b',"type":"a","data":' + data + b"}"
        several = b"{" + ids + b',"events":[{"type":"a"},{"type":"b","data":' + data + b"}]}"
        for path, body in (("/track/event", single), ("/track/events/batch", several)):
            response = client.post(path, content=body, headers=ORIGIN)
            assert response.status_code == 400, (path, response.text)
            assert message in response.json()["error"]
    assert fetch_rows(settings, "SELECT count(*) AS n FROM events")[0]["n"] == 0


def test_engagement_score_and_labels() -> None:
    assert engagement(5_000, 0, 0, 0) == (0, "Cold")
    assert engagement(60_000, 50, 3, 0) == (24, "Warm")
    assert engagement(180_000, 80, 10, 0) == (52, "Hot")
    assert engagement(300_000, 100, 15, 2) == (85, "Very Hot")
    assert engagement(10**9, 100, 999, 99) == (100, "Very Hot")
    # Each label's range ends at its ceiling (reference 3.4): 20, 45, 70, 100.
    edges = {20: "Cold", 21: "Warm", 45: "Warm", 46: "Hot", 70: "Hot", 71: "Very Hot"}
    for score, label in edges.items():
        clicks, rest = min(score, 20), max(0, score - 20)
        duration = min(rest, 35) * 10_000
        scroll = -(-max(0, rest - 35) * 100 // 30)  # the least depth worth the remaining points
        assert engagement(duration, scroll, clicks, 0) == (score, label), score


def test_session_end_scores_the_visit(client: TestClient, settings: Settings, site: str) -> None:
    visit_id = start(client, site)["session_id"]
    ended = client.post(
        "/track/session/end",
        json={
            "siteKey": site,
            "sessionId": visit_id,
            "durationMs": 60_000,
            "maxScroll": 50,
            "clicks": 3,
        },
        headers=ORIGIN,
    ).json()
    assert (ended["engagement_score"], ended["engagement_label"]) == (24, "Warm")
    row = visit_row(settings, visit_id)
    assert (row["engagement_score"], row["engagement_label"]) == (24, "Warm")
    assert row["ended_at"] is not None
    # The tracker ends the visit on every page it leaves: the next page resumes it.
    assert start(client, site, sessionId=visit_id)["session_id"] == visit_id
    assert visit_row(settings, visit_id)["ended_at"] is None


def test_per_ip_limits_and_whitelist(settings: Settings, site: str) -> None:
    with TestClient(create_app(settings)) as client:
        answers = [
            client.post("/track/session/start", json={"siteKey": site}, headers=ORIGIN)
            for _ in range(11)
        ]
    assert [a.status_code for a in answers[:10]] == [200] * 10
    assert answers[0].headers["x-ratelimit-remaining"] == "9"
    refused = answers[10]
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert "too many requests" in refused.json()["error"]
    trusted = Settings(database_url=settings.database_url, tracking_whitelist_ips="testclient")
    with TestClient(create_app(trusted)) as client:
        codes = {
            client.post("/track/session/start", json={"siteKey": site}, headers=ORIGIN).status_code
            for _ in range(12)
        }
    assert codes == {200}


def test_a_server_without_the_lifespan_gets_a_clear_503(settings: Settings, site: str) -> None:
    """An ASGI server that never runs the app's startup leaves it without a database: the
    tracking routes say so instead of failing with a 500."""
    # TestClient outside a ``with`` block does not run the lifespan.
    client = TestClient(create_app(settings))
    answer = client.post("/track/session/start", json={"siteKey": site}, headers=ORIGIN)
    assert answer.status_code == 503
    assert "lifespan" in answer.json()["error"]
    assert answer.headers["access-control-allow-origin"] == "*"


def test_a_lead_takes_the_attribution_of_its_visit(
    client: TestClient, api: TestClient, site: str
) -> None:
    visit = start(client, site, url="https://shop.example/?gclid=from-ad&utm_source=google")
    lead = api.post(
        "/api/leads",
        json={"email": "ada@example.com", "sessionId": visit["session_id"], "gclid": "typed"},
    ).json()["data"]
    assert lead["sessionLinked"] is True
    stored = api.get(f"/api/leads/{lead['id']}").json()["data"]
    assert (stored["gclid"], stored["utm_source"]) == ("from-ad", "google")


def test_sites_create_prints_the_key_last(cli: CliRunner, settings: Settings) -> None:
    from leadline.cli import app

    result = cli.invoke(
        app,
        [
            "sites",
            "create",
            "--workspace",
            "acme",
            "--domain",
            "https://Shop.Example/x",
            "--domain",
            "*.shop.example",
        ],
    )
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert re.match(r"^pk_live_[A-Z2-9]{20}$", key)
    listed = cli.invoke(app, ["sites", "list", "--workspace", "acme"])
    assert key in listed.stdout
    assert "*.shop.example, shop.example" in listed.stdout
    bad = cli.invoke(app, ["sites", "create", "--workspace", "acme", "--domain", "not a domain"])
    assert bad.exit_code == 1
    assert "is not a domain" in bad.stderr


def test_old_events_are_purged_and_sessions_kept(
    client: TestClient, settings: Settings, site: str
) -> None:
    import asyncio
    from datetime import timedelta

    from sqlalchemy import update

    from leadline.db import Database
    from leadline.jobs.registry import get_task, load_tasks
    from leadline.kit.time import utcnow
    from leadline.models import TrackedEvent
    from leadline.tracking.tasks import PURGE_EVENTS
    from tests.fixtures.factories import run_in_transaction

    visit_id = start(client, site)["session_id"]
    batch(client, site, visit_id, [{"id": "old", "type": "a"}, {"id": "new", "type": "b"}])

    async def age(session: AsyncSession) -> None:
        await session.execute(
            update(TrackedEvent)
            .where(TrackedEvent.client_id == "old")
            .values(received_at=utcnow() - timedelta(days=391))
        )

    run_in_transaction(settings, age)
    load_tasks()
    purge = get_task(PURGE_EVENTS)
    assert purge is not None

    async def run() -> None:
        import httpx

        from leadline.jobs.registry import JobContext

        db = Database(settings)
        async with httpx.AsyncClient() as http:
            context = JobContext("job", PURGE_EVENTS, None, 1, 3, "test", db, settings, http)
            await purge.run(context, {})
        await db.dispose()

    asyncio.run(run())
    assert [r["client_id"] for r in fetch_rows(settings, "SELECT client_id FROM events")] == ["new"]
    assert visit_row(settings, visit_id)["id"] == visit_id


def test_a_sites_events_are_deleted_by_site_alone(
    client: TestClient, settings: Settings, site: str
) -> None:
    """Events have no foreign key to cascade along: deleting a site deletes them by site, in
    batches, and leaves every other site's events alone."""
    from leadline.tracking.repository import TrackingRepository
    from tests.fixtures.factories import run_in_transaction

    other = make_site(settings, "other-ws", "shop.example")
    mine = start(client, site)["session_id"]
    theirs = start(client, other)["session_id"]
    batch(client, site, mine, [{"id": f"m{i}", "type": "a"} for i in range(5)])
    batch(client, other, theirs, [{"id": "t", "type": "a"}])
    site_id = visit_row(settings, mine)["site_id"]

    removed: list[int] = []

    async def delete(session: AsyncSession) -> None:
        removed.append(await TrackingRepository(session).delete_site_events(site_id, 2))

    for _ in range(4):
        run_in_transaction(settings, delete)
    assert removed == [2, 2, 1, 0]
    assert [r["client_id"] for r in fetch_rows(settings, "SELECT client_id FROM events")] == ["t"]


IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (IPHONE, ("Mobile Safari", "iOS", "iPhone", None)),
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", (None, None, None, "crawler")),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/120.0.0.0 Safari/537.36",
            (None, None, None, "rawler"),
        ),
        ("", (None, None, None, "no user agent")),
    ],
)
def test_visits_are_enriched_and_bots_kept_aside(
    client: TestClient, settings: Settings, site: str, agent: str, expected: tuple[Any, ...]
) -> None:
    response = client.post(
        "/track/session/start",
        json={"siteKey": site, "url": "https://shop.example/"},
        headers={**ORIGIN, "User-Agent": agent},
    )
    assert response.status_code == 200, response.text  # bots are recorded, not refused
    row = visit_row(settings, response.json()["session_id"])
    reason = expected[3]
    if reason is None:
        assert (row["browser"], row["os"], row["device"], row["bot_reason"]) == expected
    else:
        assert reason in (row["bot_reason"] or "")


def test_country_from_a_trusted_header_only(settings: Settings, site: str) -> None:
    trusting = Settings(database_url=settings.database_url, country_header="CF-IPCountry")
    with TestClient(create_app(trusting)) as client:
        answer = client.post(
            "/track/session/start",
            json={"siteKey": site},
            headers={**ORIGIN, "CF-IPCountry": "nl"},
        ).json()
    assert visit_row(settings, answer["session_id"])["country"] == "NL"
    with TestClient(create_app(settings)) as client:
        answer = client.post(
            "/track/session/start",
            json={"siteKey": site},
            headers={**ORIGIN, "CF-IPCountry": "NL", "User-Agent": "Other"},
        ).json()
    assert visit_row(settings, answer["session_id"])["country"] is None  # not trusted


def test_country_from_the_address() -> None:
    from leadline.tracking.enrich import country

    assert country("8.8.8.8", None) == "US"
    assert country("127.0.0.1", None) is None
    assert country("not an ip", None) is None
    assert country("8.8.8.8", "XX") is None
