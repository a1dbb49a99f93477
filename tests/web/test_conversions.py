"""Settings → Conversions through the ASGI app: destinations made, changed, tested and deleted
through the pages with the test ad platform; credentials never shown back and sealed at rest;
who may (nobody signed out, no request without its CSRF token, no agent, nobody reaching
another workspace's destination); bad settings a 400 page naming the field, writing nothing;
and the conversions section of a lead's page."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.models import ConversionUpload
from tests.fixtures.conversions import TOKEN, AdsServer, ads_server, local_ads
from tests.fixtures.factories import fetch_rows, make_key, run_in_transaction
from tests.fixtures.leadiosa import bearer
from tests.fixtures.web import (
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
    sign_in,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

OWNER = "owner@example.com"
PAGE = "/app/settings/conversions"


@pytest.fixture
def ads() -> Iterator[AdsServer]:
    with ads_server() as server, local_ads(server.url):
        yield server


@pytest.fixture
def owner(client: TestClient, settings: Settings, ads: AdsServer) -> tuple[TestClient, str]:
    """The client signed in as acme's owner, and its CSRF token."""
    make_member(settings, "acme", OWNER, role="owner")
    return client, sign_in(client, OWNER)


def _post(
    client: TestClient, path: str, csrf: str | None, **data: str | list[str]
) -> httpx.Response:
    body: dict[str, Any] = dict(data)
    if csrf is not None:
        body["csrf_token"] = csrf
    return client.post(path, data=body, follow_redirects=False)


def _text(answer: httpx.Response) -> str:
    return html.unescape(answer.text)


def _new(client: TestClient, csrf: str, **fields: str) -> httpx.Response:
    form = {
        "platform": "testads",
        "name": "Ads account",
        "setting:account": "acc-1",
        "credential:token": TOKEN,
        "map:qualified": "lead_ok",
        "enabled": "on",
        **fields,
    }
    return _post(client, f"{PAGE}/new", csrf, **form)


def _destinations(settings: Settings) -> list[dict[str, Any]]:
    return fetch_rows(settings, "SELECT * FROM conversion_destinations ORDER BY id")


def _api_destination(client: TestClient, settings: Settings, workspace: str) -> str:
    key = make_key(settings, workspace)
    answer = client.post(
        "/api/v1/conversions/destinations",
        json={
            "platform": "testads",
            "name": f"{workspace} ads",
            "settings": {"account": "acc-9"},
            "credentials": {"token": TOKEN},
        },
        headers=bearer(key),
    )
    assert answer.status_code == 201, answer.text
    destination_id: str = answer.json()["data"]["id"]
    return destination_id


def _posts(destination_id: str) -> list[tuple[str, dict[str, str]]]:
    return [
        (
            f"{PAGE}/new",
            {
                "platform": "testads",
                "name": "X",
                "setting:account": "a",
                "credential:token": TOKEN,
            },
        ),
        (f"{PAGE}/{destination_id}", {"name": "Renamed", "setting:account": "acc-2"}),
        (f"{PAGE}/{destination_id}/test", {}),
        (f"{PAGE}/{destination_id}/delete", {}),
    ]


# ------------------------------------------------------------------------------ who may


def test_nobody_signed_out_no_csrf_and_no_agent(
    client: TestClient, settings: Settings, ads: AdsServer
) -> None:
    destination_id = _api_destination(client, settings, "acme")
    before = _destinations(settings)
    for path in (PAGE, f"{PAGE}/new?platform=testads", f"{PAGE}/{destination_id}"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/app/signin?next=/app/settings/")
    for path, data in _posts(destination_id):
        assert _post(client, path, None, **data).status_code == 401, path

    make_member(settings, "acme", OWNER, role="owner")
    sign_in(client, OWNER)
    for path, data in _posts(destination_id):
        refused = _post(client, path, None, **data)
        assert refused.status_code == 403, path
        assert "form has expired" in refused.text
        assert _post(client, path, "0" * 64, **data).status_code == 403, path

    client.cookies.clear()
    make_member(settings, "acme", "agent@example.com", role="agent")
    csrf = sign_in(client, "agent@example.com")
    for path in (PAGE, f"{PAGE}/new?platform=testads", f"{PAGE}/{destination_id}"):
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "does not open settings" in refused.text
    for path, data in _posts(destination_id):
        assert _post(client, path, csrf, **data).status_code == 403, path
    assert _destinations(settings) == before
    assert ads.uploads == []
    assert ads.headers == []


def test_another_workspaces_destination_is_not_found(
    owner: tuple[TestClient, str], settings: Settings
) -> None:
    client, csrf = owner
    theirs = _api_destination(client, settings, "other")
    before = _destinations(settings)
    assert client.get(f"{PAGE}/{theirs}").status_code == 404
    for path, data in _posts(theirs)[1:]:
        assert _post(client, path, csrf, **data).status_code == 404, path
    assert theirs not in client.get(PAGE).text
    for bad in ("cvd_%00", "x" * 65, "cvd_nope"):
        assert client.get(f"{PAGE}/{bad}").status_code == 404
    assert _destinations(settings) == before


# ------------------------------------------------------------------------------ destinations


def test_an_owner_adds_a_destination_whose_credentials_are_never_shown(
    owner: tuple[TestClient, str], settings: Settings
) -> None:
    client, csrf = owner
    listing = client.get(PAGE)
    assert listing.status_code == 200
    assert "No destination yet" in listing.text
    assert '<option value="testads">' in listing.text
    form = client.get(f"{PAGE}/new", params={"platform": "testads"})
    assert form.status_code == 200
    assert 'name="setting:account"' in form.text
    assert 'name="credential:token"' in form.text
    assert 'type="password"' in form.text

    made = _new(client, csrf)
    assert made.status_code == 303, made.text
    [row] = _destinations(settings)
    assert made.headers["location"] == f"{PAGE}/{row['id']}"
    assert (row["platform"], row["name"], row["enabled"]) == ("testads", "Ads account", True)
    assert '"account":"acc-1"' in row["settings"]
    assert '"qualified":"lead_ok"' in row["status_map"]
    # Sealed at rest.
    assert TOKEN not in row["credentials"]
    assert row["credentials"]

    pages = [client.get(PAGE), client.get(f"{PAGE}/{row['id']}")]
    assert all(page.status_code == 200 for page in pages)
    assert "Ads account" in pages[0].text
    assert "lead_ok" in pages[0].text
    for page in pages:
        assert TOKEN not in page.text
    assert "settings/conversions" in client.get("/app/settings").text

    # Edited without typing credentials: they stay; the test still reads the account.
    changed = _post(
        client,
        f"{PAGE}/{row['id']}",
        csrf,
        name="Renamed",
        **{"setting:account": "acc-2", "map:won": "sale"},
    )
    assert changed.status_code == 303, changed.text
    [row] = _destinations(settings)
    assert (row["name"], row["enabled"]) == ("Renamed", False)
    assert '"won":"sale"' in row["status_map"]
    assert "lead_ok" not in row["status_map"]
    tested = _post(client, f"{PAGE}/{row['id']}/test", csrf)
    assert tested.status_code == 200
    assert "the token reads the account" in tested.text
    assert TOKEN not in tested.text

    # New credentials typed replace the stored ones: a wrong token is refused by the platform.
    _post(
        client,
        f"{PAGE}/{row['id']}",
        csrf,
        name="Renamed",
        enabled="on",
        **{"setting:account": "acc-2", "credential:token": "wrong-token"},
    )
    refused = _post(client, f"{PAGE}/{row['id']}/test", csrf)
    assert refused.status_code == 400
    assert "the platform refused the token" in _text(refused)
    assert "wrong-token" not in refused.text
    assert TOKEN not in refused.text

    gone = _post(client, f"{PAGE}/{row['id']}/delete", csrf)
    assert gone.status_code == 303
    assert gone.headers["location"] == PAGE
    assert _destinations(settings) == []


def test_bad_settings_are_a_400_naming_the_field_and_write_nothing(
    owner: tuple[TestClient, str], settings: Settings
) -> None:
    client, csrf = owner
    for fields, named in (
        ({"setting:account": ""}, "settings.account"),
        ({"credential:token": ""}, "credentials.token"),
        ({"setting:account": "{not json"}, "settings.account"),
        ({"more_settings": "[1]"}, "more settings must be a JSON object"),
        ({"name": ""}, "name must be"),
        ({"platform": "nowhere"}, "platform must be one of"),
    ):
        refused = _new(client, csrf, **fields)
        assert refused.status_code == 400, (fields, refused.text)
        assert named.lower() in _text(refused).lower(), fields
    assert client.get(f"{PAGE}/new", params={"platform": "nowhere"}).status_code == 400
    assert _destinations(settings) == []

    assert _new(client, csrf).status_code == 303
    before = _destinations(settings)
    [row] = before
    refused = _post(client, f"{PAGE}/{row['id']}", csrf, name="Changed", **{"setting:account": ""})
    assert refused.status_code == 400
    assert "settings.account" in _text(refused).lower()
    assert _destinations(settings) == before


# ------------------------------------------------------------------------------ a lead's page


def test_the_lead_page_shows_the_preflight_and_its_reasons(
    owner: tuple[TestClient, str], settings: Settings
) -> None:
    client, csrf = owner
    assert _new(client, csrf).status_code == 303
    key = make_key(settings, "acme")
    made = client.post(
        "/api/leads",
        json={
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "gclid": "Gcl-AbC_123",
            "ad_user_data": "denied",
        },
        headers={"X-API-KEY": key},
    )
    assert made.status_code == 201, made.text
    lead_id = made.json()["data"]["id"]
    page = client.get(f"/app/leads/{lead_id}")
    assert page.status_code == 200
    text = _text(page)
    assert 'id="conversions-heading"' in text
    assert "Blocked" in text
    assert "The consent this platform needs was not granted" in text
    assert "Nothing has been uploaded for this lead" in text

    # An agent opens the lead, without the conversions section.
    client.cookies.clear()
    make_member(settings, "acme", "agent@example.com", role="agent")
    sign_in(client, "agent@example.com")
    seen = client.get(f"/app/leads/{lead_id}")
    assert seen.status_code == 200
    assert 'id="conversions-heading"' not in seen.text


def test_uploads_are_counted_and_listed_with_the_platforms_error(
    owner: tuple[TestClient, str], settings: Settings
) -> None:
    client, csrf = owner
    assert _new(client, csrf).status_code == 303
    [destination] = _destinations(settings)
    made = client.post(
        "/api/leads",
        json={"name": "Bob", "email": "bob@example.com", "gclid": "G-2", "ad_user_data": "granted"},
        headers={"X-API-KEY": make_key(settings, "acme")},
    )
    assert made.status_code == 201, made.text
    lead_id = made.json()["data"]["id"]

    async def record(session: AsyncSession) -> None:
        now = utcnow()
        for state, status, error in (
            ("sent", "qualified", (None, None)),
            ("failed", "won", ("INVALID_CLICK", "the click is not this account's")),
        ):
            session.add(
                ConversionUpload(
                    id=new_id("cvu"),
                    workspace_id=destination["workspace_id"],
                    destination_id=destination["id"],
                    lead_id=lead_id,
                    status=status,
                    event_name=f"ev_{status}",
                    dedupe_key=new_id("key"),
                    occurred_at=now,
                    state=state,
                    error_code=error[0],
                    error_message=error[1],
                    attempts=1,
                    created_at=now,
                    updated_at=now,
                )
            )

    run_in_transaction(settings, record)
    listing = _text(client.get(PAGE))
    assert "1 sent, 1 failed" in listing
    assert "none yet" not in listing
    assert "1 sent, 0 pending, 0 skipped, 1 failed" in _text(
        client.get(f"{PAGE}/{destination['id']}")
    )
    lead = _text(client.get(f"/app/leads/{lead_id}"))
    assert "Eligible" in lead
    assert "INVALID_CLICK the click is not this account's" in lead
    assert "ev_won" in lead
    assert "Ads account" in lead
