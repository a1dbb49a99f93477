"""POST /lead.capture: both ways of saying who sends, every body a form posts, dedupe into one
lead per project with every submission kept, honeypots kept aside, the visit's attribution."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from tests.fixtures.captured import submissions
from tests.fixtures.factories import (
    fetch_rows,
    make_form,
    make_key,
    make_site,
    run_in_transaction,
)

PAGE = {"Origin": "https://shop.example", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}
FORM = {
    "fields": [
        {"name": "FIRSTNAME", "label": "Name"},
        {"name": "EMAIL", "type": "email", "label": "Email"},
        {"name": "PHONE", "type": "tel", "label": "Phone"},
        {"name": "PROJECT", "type": "hidden", "value": "Riverside"},
    ],
    "thank_you_url": "https://shop.example/thanks",
}


@pytest.fixture
def site(settings: Settings) -> str:
    key = make_site(settings, "acme", "shop.example")
    make_form(settings, key, FORM)
    return key


def post(client: TestClient, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return client.post("/lead.capture", json=body, headers={**PAGE, **(headers or {})})


def leads(client: TestClient, settings: Settings, query: str = "") -> list[dict[str, Any]]:
    key = make_key(settings, "acme", "admin")
    answer = client.get(f"/api/leads{query}", headers={"X-API-KEY": key})
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def test_a_submission_from_a_tracked_visit_becomes_an_attributed_lead(
    client: TestClient, settings: Settings, site: str
) -> None:
    visit = client.post(
        "/track/session/start",
        json={
            "siteKey": site,
            "url": "https://shop.example/flats?gclid=G-123&utm_source=google&utm_medium=cpc",
            "consent": {"mode": "granted"},
        },
        headers=PAGE,
    ).json()
    events = [{"type": "click"} for _ in range(3)] + [{"type": "scroll", "data": {"depth": 50}}]
    batch = client.post(
        "/track/events/batch",
        json={"siteKey": site, "sessionId": visit["session_id"], "events": events},
        headers=PAGE,
    )
    assert batch.status_code == 200, batch.text
    answer = post(
        client,
        {
            "siteKey": site,
            "formId": "enquiry",
            "FIRSTNAME": "Ada",
            "EMAIL": "Ada@Example.com",
            "PHONE": "20 7946 0000",
            "COUNTRYCODE": "+44",
            "PROJECT": "Riverside",
            "USER_MESSAGE": "Two bedrooms, please.",
            "budget": 350000,
            "__visitor_id": visit["visitor_id"],
            "__session_id": visit["session_id"],
            "__pg_hp": "",
            "__pg_tts": "42.5",
            "__pg_consent": True,
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["success"] is True
    (lead,) = leads(client, settings)
    assert (lead["name"], lead["email"], lead["source"]) == ("Ada", "Ada@example.com", "inbound")
    assert lead["phone"] == "+44 20 7946 0000"
    assert (lead["gclid"], lead["utm_source"], lead["utm_medium"]) == ("G-123", "google", "cpc")
    assert lead["ad_storage"] is True
    custom = json.loads(lead["custom"]) if isinstance(lead["custom"], str) else lead["custom"]
    assert custom["PROJECT"] == "Riverside"
    assert custom["budget"] == "350000"
    (row,) = submissions(settings)
    assert (row["outcome"], row["project"], row["visit_id"]) == (
        "created",
        "Riverside",
        visit["session_id"],
    )
    assert row["time_to_submit_ms"] == 42500
    assert row["contact_consent"] in (True, 1)
    assert json.loads(row["suspicion_reasons"]) == []
    # 50% scrolled (15 points) and three clicks (3), seconds into the visit.
    assert (row["engagement_score"], row["engagement_label"]) == (18, "Cold")
    assert "__visitor_id" not in json.loads(row["fields"])


def test_a_session_id_longer_than_a_visit_id_names_no_visit(
    client: TestClient, settings: Settings, site: str
) -> None:
    """Cut short it could name another visit; kept whole it would not fit: it is dropped, and
    the submission still becomes a lead."""
    body = {"siteKey": site, "formId": "enquiry", "EMAIL": "long@example.com"}
    answer = post(client, {**body, "__session_id": "s" * 65})
    assert answer.status_code == 200, answer.text
    (row,) = submissions(settings)
    assert (row["outcome"], row["visit_id"]) == ("created", None)
    assert "no_tracking_session" in json.loads(row["suspicion_reasons"])


def test_a_submission_naming_only_its_visitor_takes_their_latest_visit(
    client: TestClient, settings: Settings, site: str
) -> None:
    def start(url: str, visitor_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"siteKey": site, "url": url, "consent": {"mode": "granted"}}
        if visitor_id is not None:
            body["visitorId"] = visitor_id
        answer = client.post("/track/session/start", json=body, headers=PAGE)
        assert answer.status_code == 200, answer.text
        started: dict[str, Any] = answer.json()
        return started

    first = start("https://shop.example/?gclid=G-OLD")
    latest = start("https://shop.example/?gclid=G-NEW", first["visitor_id"])
    assert latest["visitor_id"] == first["visitor_id"]
    assert latest["session_id"] != first["session_id"]
    # The earlier visit years back, so that "latest" never rests on a clock's resolution.
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, update

    from leadline.models import Visit

    engine = create_engine(settings.sync_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(Visit)
                .where(Visit.id == first["session_id"])
                .values(started_at=datetime(2020, 1, 1, tzinfo=UTC))
            )
    finally:
        engine.dispose()

    answer = post(
        client,
        {
            "siteKey": site,
            "formId": "enquiry",
            "EMAIL": "returning@example.com",
            "__visitor_id": first["visitor_id"],
        },
    )

    assert answer.status_code == 200, answer.text
    (row,) = submissions(settings)
    assert (row["outcome"], row["visit_id"]) == ("created", latest["session_id"])
    assert "no_tracking_session" not in json.loads(row["suspicion_reasons"])
    (lead,) = leads(client, settings)
    assert lead["gclid"] == "G-NEW"


def test_every_body_a_form_posts_is_read(client: TestClient, settings: Settings, site: str) -> None:
    base = {"siteKey": site, "formId": "enquiry", "PROJECT": "Riverside"}
    # A browser's own form post is sent on to the thank-you page.
    encoded = client.post(
        "/lead.capture",
        data={**base, "EMAIL": "one@example.com"},
        headers=PAGE,
        follow_redirects=False,
    )
    assert encoded.status_code == 303
    assert encoded.headers["location"] == "https://shop.example/thanks"
    multipart = client.post(
        "/lead.capture",
        headers={**PAGE, "Content-Type": "multipart/form-data; boundary=b"},
        content=(
            '--b\r\nContent-Disposition: form-data; name="siteKey"\r\n\r\n' + site + "\r\n"
            '--b\r\nContent-Disposition: form-data; name="formId"\r\n\r\nenquiry\r\n'
            '--b\r\nContent-Disposition: form-data; name="EMAIL"\r\n\r\ntwo@example.com\r\n'
            "--b--\r\n"
        ).encode(),
        follow_redirects=False,
    )
    assert multipart.status_code == 303, multipart.text
    # sendBeacon posts text/plain.
    beacon = client.post(
        "/lead.capture",
        content=json.dumps({**base, "EMAIL": "three@example.com"}),
        headers={**PAGE, "Content-Type": "text/plain;charset=UTF-8"},
    )
    assert beacon.status_code == 200, beacon.text
    # A script posting form data and asking for JSON gets JSON.
    scripted = client.post(
        "/lead.capture",
        data={**base, "EMAIL": "four@example.com"},
        headers={**PAGE, "Accept": "application/json"},
    )
    assert scripted.status_code == 200
    assert scripted.json()["success"] is True
    emails = sorted(lead["email"] for lead in leads(client, settings))
    assert emails == [f"{n}@example.com" for n in ("four", "one", "three", "two")]


def test_submissions_of_one_person_join_one_lead_per_project(
    client: TestClient, settings: Settings, site: str
) -> None:
    base = {"siteKey": site, "formId": "enquiry", "PROJECT": "Riverside"}
    sends = [
        {"__visitor_id": "v_visitor_one", "EMAIL": "a@example.com"},
        {"__visitor_id": "v_visitor_one", "PHONE": "+44 20 7946 0001"},  # same visitor
        {"EMAIL": "a@example.com", "FIRSTNAME": "Ada"},  # same email
        {"EMAIL": "b@example.com", "PHONE": "+442079460002"},  # someone else, same address
        {"PHONE": "+44 20 7946 0002"},  # same phone, written differently
        {"FIRSTNAME": "Nobody"},  # names nobody: only the address is left to match
        {"EMAIL": "a@example.com", "PROJECT": "Hill View"},  # another project
    ]
    for extra in sends:
        assert post(client, {**base, **extra}).status_code == 200
    found = leads(client, settings)
    assert len(found) == 3
    rows = submissions(settings)
    assert [row["outcome"] for row in rows] == [
        "created",
        "merged",
        "merged",
        "created",
        "merged",
        "merged",
        "created",
    ]
    first = rows[0]["lead_id"]
    assert {row["lead_id"] for row in rows[:3]} == {first}
    assert {row["lead_id"] for row in rows[3:6]} == {rows[3]["lead_id"]}
    # The later submissions filled in what the first lacked, and kept their own data.
    ada = next(lead for lead in found if lead["id"] == first)
    assert (ada["name"], ada["phone"]) == ("Ada", "+44 20 7946 0001")
    assert json.loads(rows[2]["fields"])["FIRSTNAME"] == "Ada"


def test_a_honeypot_submission_is_kept_aside(
    client: TestClient, settings: Settings, site: str
) -> None:
    answer = post(
        client,
        {
            "siteKey": site,
            "formId": "enquiry",
            "EMAIL": "bot@example.com",
            "__pg_hp": "x",
            "__pg_tts": "1",
        },
    )
    assert answer.status_code == 200
    assert set(answer.json()) == {"success", "submission_id"}
    assert leads(client, settings) == []
    (row,) = submissions(settings)
    assert row["outcome"] == "kept_aside"
    assert row["lead_id"] is None
    reasons = json.loads(row["suspicion_reasons"])
    assert reasons[:2] == ["honeypot_filled", "submitted_under_5s"]
    assert row["suspicion_score"] == 85


def test_who_may_send(client: TestClient, settings: Settings, site: str) -> None:
    body = {"siteKey": site, "formId": "enquiry", "EMAIL": "a@example.com"}
    foreign = post(client, body, {"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert "not one of this site's domains" in foreign.json()["error"]
    anonymous = post(client, {"EMAIL": "a@example.com"})
    assert anonymous.status_code == 403
    assert "integration key" in anonymous.json()["error"]
    unknown_form = post(client, {**body, "formId": "other"})
    assert unknown_form.status_code == 403
    bad_key = post(client, {"EMAIL": "a@example.com"}, {"X-API-Key": "ll_wrong"})
    assert bad_key.status_code == 401
    marketing = make_key(settings, "acme", "marketing")
    assert post(client, {"EMAIL": "a@example.com"}, {"X-API-Key": marketing}).status_code == 403
    integration = make_key(settings, "acme", "integration")
    server = client.post(
        "/lead.capture",
        json={"EMAIL": "server@example.com", "FIRSTNAME": "From the backend"},
        headers={"X-API-Key": integration},
    )
    assert server.status_code == 200, server.text
    assert [lead["email"] for lead in leads(client, settings)] == ["server@example.com"]
    assert len(submissions(settings)) == 1  # nothing of the refused ones was kept


def test_the_old_paths_work_and_say_they_are_deprecated(
    client: TestClient, settings: Settings, site: str
) -> None:
    for path in ("/lead", "/"):
        answer = client.post(
            path,
            json={"siteKey": site, "formId": "enquiry", "EMAIL": f"{len(path)}@example.com"},
            headers=PAGE,
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["deprecation"] == "true"
        assert answer.headers["sunset"] == "Mon, 01 Jun 2026 00:00:00 GMT"
    assert (
        "deprecation"
        not in post(
            client, {"siteKey": site, "formId": "enquiry", "EMAIL": "x@example.com"}
        ).headers
    )
    preflight = client.options("/lead.capture", headers=PAGE)
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("content", "content_type", "status", "message"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"[1, 2]", "application/json", 400, "JSON object"),
        (b"<xml/>", "application/xml", 415, "not a form body"),
        (b"{}", "application/json", 403, "integration key"),
        # The scripts' own fields are text (the seconds a number too), or null: any other JSON
        # was read as its Python text ("['pk_1']").
        (b'{"siteKey": ["pk"], "EMAIL": "a@example.com"}', "application/json", 400, "siteKey"),
        (b'{"formId": {"a": 1}, "EMAIL": "a@example.com"}', "application/json", 400, "formId"),
        (b'{"__visitor_id": 7, "EMAIL": "a@example.com"}', "application/json", 400, "__visitor"),
        (b'{"__pg_tts": true, "EMAIL": "a@example.com"}', "application/json", 400, "__pg_tts"),
        (b'{"__pg_consent": [], "EMAIL": "a@example.com"}', "application/json", 400, "consent"),
        (
            b"siteKey=a&siteKey=b&EMAIL=a@example.com",
            "application/x-www-form-urlencoded",
            400,
            "siteKey",
        ),
    ],
)
def test_bad_bodies_are_refused_with_nothing_kept(
    client: TestClient,
    settings: Settings,
    site: str,
    content: bytes,
    content_type: str,
    status: int,
    message: str,
) -> None:
    answer = client.post(
        "/lead.capture", content=content, headers={**PAGE, "Content-Type": content_type}
    )
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    assert submissions(settings) == []


def test_the_scripts_fields_may_be_null_and_the_seconds_a_number(
    client: TestClient, settings: Settings, site: str
) -> None:
    body = {"siteKey": site, "formId": "enquiry", "EMAIL": "ada@example.com", "__pg_tts": 12.5}
    assert post(client, body).status_code == 200
    assert post(client, {**body, "__visitor_id": None, "__pg_consent": True}).status_code == 200
    kept = submissions(settings)
    assert [row["time_to_submit_ms"] for row in kept] == [12_500, 12_500]


def test_oversized_and_empty_submissions_are_refused(
    client: TestClient, settings: Settings, site: str
) -> None:
    base = {"siteKey": site, "formId": "enquiry"}
    many = post(client, {**base, **{f"f{i}": "x" for i in range(150)}})
    assert many.status_code == 400
    assert "at most 100" in many.json()["error"]
    long = post(client, {**base, "USER_MESSAGE": "x" * 1_000_000})
    assert long.status_code == 413
    empty = post(client, {**base, "EMAIL": "  "})
    assert empty.status_code == 400
    assert "no field with a value" in empty.json()["error"]
    assert submissions(settings) == []


def test_submissions_that_reach_a_lead_are_announced_by_webhook(
    client: TestClient, settings: Settings, site: str
) -> None:
    from leadline.auth import service as auth
    from leadline.webhooks import service as webhooks

    admin = make_key(settings, "acme", "admin")

    async def subscribe(session: Any) -> Any:
        principal = await auth.authenticate(session, admin)
        return await webhooks.create_endpoint(
            session,
            principal,
            Settings(database_url=settings.database_url, webhooks_allow_private=True),
            url="http://127.0.0.1:9/leadline",
            event_types=("lead.captured", "lead.submission_received"),
        )

    run_in_transaction(settings, subscribe)
    base = {"siteKey": site, "formId": "enquiry", "PROJECT": "Riverside"}
    post(client, {**base, "EMAIL": "a@example.com", "FIRSTNAME": "Ada"})
    post(client, {**base, "EMAIL": "a@example.com", "USER_MESSAGE": "Again"})
    post(client, {**base, "EMAIL": "bot@example.com", "__pg_hp": "filled"})
    events = fetch_rows(settings, "SELECT type, body FROM webhook_events ORDER BY created_at")
    assert [event["type"] for event in events] == [
        "lead.captured",
        "lead.submission_received",
        "lead.submission_received",
    ]
    data = json.loads(events[2]["body"])["data"]
    assert data["submission"]["outcome"] == "merged"
    assert data["submission"]["fields"]["USER_MESSAGE"] == "Again"
    assert data["lead"]["email"] == "a@example.com"


def test_blocked_and_allowed_addresses_never_make_leads(
    client: TestClient, cli: Any, settings: Settings, site: str
) -> None:
    from leadline.cli import app

    def ips(*args: str) -> Any:
        return cli.invoke(app, ["ips", *args])

    blocked = ips("block", "--workspace", "acme", "203.0.113.0/24", "--note", "spam run")
    assert blocked.exit_code == 0, blocked.output
    assert "203.0.113.0/24 is on the block list" in blocked.output
    clash = ips("allow", "--workspace", "acme", "203.0.113.9/24")
    assert clash.exit_code == 1
    assert "exclusive" in clash.output
    assert ips("allow", "--workspace", "acme", "198.51.100.7").exit_code == 0
    bad = ips("block", "--workspace", "acme", "not-an-address")
    assert bad.exit_code == 1
    assert "not an IP address" in bad.output
    listed = ips("list", "--workspace", "acme").output.splitlines()
    assert listed == ["allow  198.51.100.7/32", "block  203.0.113.0/24  spam run"]

    from leadline.models import IpRule
    from leadline.sites.ip_rules import AddressRules, parse_network

    rules = AddressRules.of(
        [
            IpRule(network=parse_network("203.0.113.0/24"), kind="block"),
            IpRule(network=parse_network("203.0.113.5"), kind="allow"),
        ]
    )
    assert rules.kind_for("203.0.113.5") == "allow"
    assert rules.kind_for("203.0.113.6") == "block"
    assert rules.kind_for("192.0.2.1") is None
    assert rules.kind_for("2001:db8::1") is None
    assert rules.kind_for("testclient") is None

    body = {"siteKey": site, "formId": "enquiry", "EMAIL": "someone@example.com"}
    answers = {}
    for address in ("203.0.113.50", "198.51.100.7", "192.0.2.1"):
        with TestClient(create_app(settings), client=(address, 40000)) as sender:
            answers[address] = post(sender, body)
    assert {answer.status_code for answer in answers.values()} == {200}
    assert set(answers["203.0.113.50"].json()) == {"success", "submission_id"}
    outcomes = {row["ip"]: row["outcome"] for row in submissions(settings)}
    assert outcomes == {
        "203.0.113.50": "blocked",
        "198.51.100.7": "testing",
        "192.0.2.1": "created",
    }
    assert len(leads(client, settings)) == 1

    removed = ips("remove", "--workspace", "acme", "198.51.100.7")
    assert removed.exit_code == 0
    assert ips("remove", "--workspace", "acme", "198.51.100.7").exit_code == 1


def test_the_wordpress_plugin_posts_leads_with_their_cookies(
    client: TestClient, settings: Settings, site: str
) -> None:
    body = {
        "name": "Ada | Lovelace",
        "email": "ada@example.com",
        "your-message": "Call me",
        "cookies": "_gcl_aw=GCL.1700000000.Cj0-wp; _fbp=fb.1.170.99; other=1",
        "domain": "shop.example",
        "path": "/contact",
        "timestamp": "2026-12-03T08:00:00Z",
    }
    answer = client.post(
        f"/api/integrations/incoming/wp/{site}/",
        content=json.dumps(body),
        headers={**PAGE, "Content-Type": "text/plain;charset=UTF-8"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["success"] is True
    (lead,) = leads(client, settings)
    assert (lead["name"], lead["email"], lead["source"]) == (
        "Ada | Lovelace",
        "ada@example.com",
        "wordpress",
    )
    assert (lead["gclid"], lead["fbp"]) == ("Cj0-wp", "fb.1.170.99")
    assert lead["website"] == "https://shop.example"
    custom = json.loads(lead["custom"]) if isinstance(lead["custom"], str) else lead["custom"]
    assert custom["your-message"] == "Call me"
    assert "cookies" not in custom

    foreign = client.post(
        f"/api/integrations/incoming/wp/{site}/",
        json={"email": "x@example.com"},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert foreign.json()["success"] is False
    garbage = client.post(f"/api/integrations/incoming/wp/{site}/", content=b"[1]", headers=PAGE)
    assert garbage.status_code == 400
    assert len(submissions(settings)) == 1


@pytest.mark.parametrize("value", ["NaN", "1e400", '"\\ud800"'])
def test_json_that_no_store_can_keep_is_refused_whole(
    client: TestClient, settings: Settings, site: str, value: str
) -> None:
    """Numbers out of range, NaN and lone surrogates are not JSON a database keeps: the body
    is refused with PulseGate's error, and nothing of it is stored."""
    body = f'{{"siteKey": "{site}", "formId": "enquiry", "EMAIL": "ada@example.com", "n": {value}}}'
    answer = client.post(
        "/lead.capture",
        content=body,
        headers={**PAGE, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": "the body is not valid JSON"}
    assert fetch_rows(settings, "SELECT id FROM lead_submissions") == []


# A form of the site without a thank-you page of its own.
CALLBACK_FORM = {"fields": [{"name": "EMAIL", "type": "email", "label": "Email"}]}


def browser_post(client: TestClient, body: dict[str, Any], headers: dict[str, str]) -> Any:
    """A browser's own form post (urlencoded, not asking for JSON), its redirect not followed."""
    return client.post("/lead.capture", data=body, headers=headers, follow_redirects=False)


def answered_with_json(answer: Any) -> bool:
    return (
        answer.status_code == 200
        and "location" not in answer.headers
        and answer.json()["success"] is True
    )


def test_a_post_with_a_key_is_redirected_only_to_the_sites_pages_or_its_forms_thank_you_page(
    client: TestClient, settings: Settings, site: str
) -> None:
    make_form(settings, site, CALLBACK_FORM, form_id="callback")
    key = {"X-API-Key": make_key(settings, "acme", "integration")}
    mine = {"siteKey": site, "formId": "callback"}
    elsewhere = browser_post(
        client,
        {**mine, "EMAIL": "a@example.com"},
        {**key, "Referer": "https://evil.example/phish"},
    )
    assert answered_with_json(elsewhere), elsewhere.headers
    back = browser_post(
        client,
        {**mine, "EMAIL": "b@example.com"},
        {**key, "Referer": "https://shop.example/contact?x=1"},
    )
    assert (back.status_code, back.headers["location"]) == (303, "https://shop.example/contact?x=1")
    thanked = browser_post(
        client,
        {"siteKey": site, "formId": "enquiry", "EMAIL": "c@example.com"},
        {**key, "Referer": "https://evil.example/phish"},
    )
    assert (thanked.status_code, thanked.headers["location"]) == (
        303,
        "https://shop.example/thanks",
    )
    # Without a site of the key's workspace there are no domains to go back to.
    no_site = browser_post(
        client, {"EMAIL": "d@example.com"}, {**key, "Referer": "https://shop.example/contact"}
    )
    assert answered_with_json(no_site)
    other = make_site(settings, "other", "shop.example")
    theirs = browser_post(
        client,
        {"siteKey": other, "EMAIL": "e@example.com"},
        {**key, "Referer": "https://shop.example/contact"},
    )
    assert answered_with_json(theirs)
    assert len(submissions(settings)) == 5  # every one was captured all the same


@pytest.mark.parametrize(
    "referer",
    [
        "https://evil.example/phish",
        "https://shop.example.evil.example/",
        "javascript:alert(1)//shop.example",
        "ftp://shop.example/",
        "https://evil.example\\@shop.example/",
        "https://evil.example@shop.example/",
        "https://shop.example /x",
        "//shop.example/contact",
        "/contact",
    ],
)
def test_a_post_from_a_page_is_never_redirected_to_another_host(
    client: TestClient, settings: Settings, site: str, referer: str
) -> None:
    make_form(settings, site, CALLBACK_FORM, form_id="callback")
    answer = browser_post(
        client,
        {"siteKey": site, "formId": "callback", "EMAIL": "a@example.com"},
        {**PAGE, "Referer": referer},
    )
    assert answered_with_json(answer), answer.headers
    assert len(submissions(settings)) == 1


def test_a_post_from_a_page_goes_back_to_it_or_to_its_forms_thank_you_page(
    client: TestClient, settings: Settings, site: str
) -> None:
    make_form(settings, site, CALLBACK_FORM, form_id="callback")
    back = browser_post(
        client,
        {"siteKey": site, "formId": "callback", "EMAIL": "a@example.com"},
        {**PAGE, "Referer": "http://shop.example/contact"},
    )
    assert (back.status_code, back.headers["location"]) == (303, "http://shop.example/contact")
    no_referer = browser_post(
        client, {"siteKey": site, "formId": "callback", "EMAIL": "b@example.com"}, PAGE
    )
    assert answered_with_json(no_referer)
    thanked = browser_post(
        client,
        {"siteKey": site, "formId": "enquiry", "EMAIL": "c@example.com"},
        {**PAGE, "Referer": "https://shop.example/contact"},
    )
    assert (thanked.status_code, thanked.headers["location"]) == (
        303,
        "https://shop.example/thanks",
    )


# ------------------------------------------------ changes to the site reach capture at once


@pytest.fixture
def still(settings: Settings) -> Iterator[TestClient]:
    """A client of an app whose site caches never expire: an entry is read again only when
    the app hears a change, so an answer that follows a change proves it was heard."""
    app = create_app(settings)
    for cache in (app.capture_sites.sites, app.capture_sites.rules, app.tracking.site_cache):
        cache.clock = lambda: 0.0
    with TestClient(app, client=("203.0.113.50", 40000)) as client:
        yield client


def managed_site(client: TestClient, admin: dict[str, str], *domains: str) -> dict[str, Any]:
    made = client.post("/analytics/sites", json={"domains": list(domains)}, headers=admin)
    assert made.status_code == 201, made.text
    site: dict[str, Any] = made.json()["site"]
    form = client.post(
        "/analytics/forms",
        json={"site_id": site["id"], "form_id": "enquiry", "form_json": FORM},
        headers=admin,
    )
    assert form.status_code == 201, form.text
    return {**site, "form": form.json()["form"]}


def from_page(client: TestClient, site_key: str, host: str) -> Any:
    return client.post(
        "/lead.capture",
        json={"siteKey": site_key, "formId": "enquiry", "EMAIL": "a@example.com"},
        headers={**PAGE, "Origin": f"https://{host}"},
    )


def visit_from(client: TestClient, site_key: str, host: str) -> Any:
    return client.post(
        "/track/session/start",
        json={"siteKey": site_key, "url": f"https://{host}/"},
        headers={**PAGE, "Origin": f"https://{host}"},
    )


def test_a_domain_removed_over_the_api_is_refused_at_once(
    still: TestClient, settings: Settings
) -> None:
    admin = {"Authorization": f"Bearer {make_key(settings, 'acme', 'admin')}"}
    site = managed_site(still, admin, "shop.example", "old.example")
    key = site["site_key"]
    assert from_page(still, key, "old.example").status_code == 200
    assert visit_from(still, key, "old.example").status_code == 200
    assert from_page(still, key, "new.example").status_code == 403

    old = next(row for row in site["domains"] if row["domain"] == "old.example")
    removed = still.delete(f"/analytics/sites/{site['id']}/domains/{old['id']}", headers=admin)
    assert removed.status_code == 200, removed.text
    added = still.post(
        f"/analytics/sites/{site['id']}/domains", json={"domain": "new.example"}, headers=admin
    )
    assert added.status_code == 201, added.text

    refused = from_page(still, key, "old.example")
    assert refused.status_code == 403
    assert "old.example is not one of this site's domains" in refused.json()["error"]
    assert visit_from(still, key, "old.example").status_code == 403
    assert from_page(still, key, "new.example").status_code == 200
    assert from_page(still, key, "shop.example").status_code == 200


def test_a_form_deleted_or_turned_off_over_the_api_is_refused_at_once(
    still: TestClient, settings: Settings
) -> None:
    admin = {"Authorization": f"Bearer {make_key(settings, 'acme', 'admin')}"}
    site = managed_site(still, admin, "shop.example")
    key, form = site["site_key"], site["form"]
    assert from_page(still, key, "shop.example").status_code == 200

    off = still.patch(f"/analytics/forms/{form['id']}", json={"enabled": False}, headers=admin)
    assert off.status_code == 200, off.text
    assert from_page(still, key, "shop.example").status_code == 403
    on = still.patch(f"/analytics/forms/{form['id']}", json={"enabled": True}, headers=admin)
    assert on.status_code == 200, on.text
    assert from_page(still, key, "shop.example").status_code == 200

    deleted = still.delete(f"/analytics/forms/{form['id']}", headers=admin)
    assert deleted.status_code == 200, deleted.text
    refused = from_page(still, key, "shop.example")
    assert refused.status_code == 403
    assert refused.json()["error"] == "the site has no form enquiry"
    assert len(submissions(settings)) == 2


def test_a_site_deleted_over_the_api_is_refused_at_once(
    still: TestClient, settings: Settings
) -> None:
    admin = {"Authorization": f"Bearer {make_key(settings, 'acme', 'admin')}"}
    site = managed_site(still, admin, "shop.example")
    key = site["site_key"]
    assert from_page(still, key, "shop.example").status_code == 200
    assert visit_from(still, key, "shop.example").status_code == 200

    deleted = still.delete(f"/analytics/sites/{site['id']}", headers=admin)
    assert deleted.status_code == 200, deleted.text
    refused = from_page(still, key, "shop.example")
    assert refused.status_code == 403
    assert refused.json()["error"] == f"unknown siteKey {key}"
    assert visit_from(still, key, "shop.example").status_code == 404


def test_an_address_blocked_with_the_cli_is_kept_aside_at_once(
    still: TestClient, cli: Any, settings: Settings, site: str
) -> None:
    from leadline.cli import app

    with_key = {"X-API-Key": make_key(settings, "acme", "integration")}
    body = {"siteKey": site, "formId": "enquiry", "EMAIL": "someone@example.com"}
    assert post(still, body).status_code == 200
    assert post(still, body, with_key).status_code == 200
    blocked = cli.invoke(app, ["ips", "block", "--workspace", "acme", "203.0.113.0/24"])
    assert blocked.exit_code == 0, blocked.output
    assert post(still, body).status_code == 200
    assert post(still, body, with_key).status_code == 200
    unblocked = cli.invoke(app, ["ips", "remove", "--workspace", "acme", "203.0.113.0/24"])
    assert unblocked.exit_code == 0, unblocked.output
    assert post(still, body).status_code == 200
    outcomes = [row["outcome"] for row in submissions(settings)]
    assert outcomes == ["created", "merged", "blocked", "blocked", "merged"]
