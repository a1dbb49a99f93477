"""GET /analytics/leads, /leads/{id}, /leads/projects, /leads/sources and /engine/*: the lead
list (filters, search, pages), a lead's timeline, the engine's aggregates over HTTP, and who
may open which."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from tests.fixtures.factories import make_key
from tests.fixtures.lead_reports import PAGE, capture_site, submit, visit

MARCH = "from=2026-03-01&to=2026-03-31"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def site(settings: Settings) -> str:
    return capture_site(settings)


@pytest.fixture
def admin(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key(settings, 'acme', 'admin')}"}


def read(client: TestClient, path: str, headers: dict[str, str], status: int = 200) -> Any:
    answer = client.get(path, headers=headers)
    assert answer.status_code == status, answer.text
    return answer.json()


def test_the_engine_over_http(
    client: TestClient,
    settings: Settings,
    site: str,
    admin: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    submit(client, monkeypatch, site, at(9, 22, 50), EMAIL="a@example.com", PROJECT="Dock")
    submit(client, monkeypatch, site, at(9, 23, 10), EMAIL="b@example.com", PROJECT="Mill")
    submit(client, monkeypatch, site, at(2, 12), EMAIL="c@example.com", PROJECT="Dock")
    query = "from=2026-03-09&to=2026-03-10&tz=Europe/Amsterdam"
    daily = read(client, f"/analytics/engine/submissions-daily?{query}", admin)
    assert [(d["date"], d["submissions"]["value"]) for d in daily["days"]] == [
        ("2026-03-09", 1),
        ("2026-03-10", 1),
    ]
    assert daily["total"]["submissions"] == {"value": 2, "previous": 0}
    filtered = read(client, f"/analytics/engine/submissions-daily?{query}&project=Mill", admin)
    assert [d["submissions"]["value"] for d in filtered["days"]] == [0, 1]
    by_project = read(client, f"/analytics/engine/by-project?{MARCH}", admin)
    assert [(r["project"], r["submissions"]["value"]) for r in by_project["rows"]] == [
        ("Dock", 2),
        ("Mill", 1),
    ]
    overview = read(client, f"/analytics/engine/overview?{query}", admin)
    assert overview["submissions"] == {"value": 2, "previous": 0}
    assert overview["period"] == {
        "from": "2026-03-09",
        "to": "2026-03-10",
        "tz": "Europe/Amsterdam",
    }
    by_source = read(client, f"/analytics/engine/by-source?{MARCH}", admin)
    assert [r["source"] for r in by_source["rows"]] == [None]
    by_engagement = read(client, f"/analytics/engine/by-engagement?{MARCH}", admin)
    assert by_engagement["rows"][-1]["engagement"] is None
    assert by_engagement["rows"][-1]["submissions"]["value"] == 3
    projects = read(client, f"/analytics/engine/projects?{MARCH}", admin)
    assert projects == {"projects": ["Dock", "Mill"]}
    assert read(client, f"/analytics/leads/projects?{MARCH}", admin) == projects
    assert read(client, f"/analytics/leads/sources?{MARCH}", admin) == {"sources": [None]}
    # One site, named by its key; another workspace's is not found.
    assert read(client, f"/analytics/engine/overview?{query}&site={site}", admin)[
        "submissions"
    ] == {"value": 2, "previous": 0}
    other = capture_site(settings, "globex")
    read(client, f"/analytics/engine/overview?site={other}", admin, 404)
    bad = read(client, "/analytics/engine/by-project?engagement=tepid", admin, 400)
    assert "engagement" in bad["error"]


def test_a_marketing_key_reads_the_aggregates_but_never_the_leads(
    client: TestClient, settings: Settings, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lead_submission = submit(client, monkeypatch, site, at(9, 9), EMAIL="ada@example.com")
    assert lead_submission
    marketing = {"X-API-Key": make_key(settings, "acme", "marketing")}
    for path in (
        "engine/overview",
        "engine/submissions-daily",
        "engine/by-project",
        "engine/by-source",
        "engine/by-engagement",
        "engine/projects",
        "engine/sources",
        "leads/projects",
        "leads/sources",
    ):
        read(client, f"/analytics/{path}?{MARCH}", marketing)
    read(client, f"/analytics/leads?{MARCH}", marketing, 403)
    read(client, "/analytics/leads/lead_anything", marketing, 403)
    read(client, f"/analytics/leads?{MARCH}&search=ada", marketing, 403)
    assert client.get("/analytics/leads").status_code == 401


def test_the_lead_list_pages_filters_and_searches(
    client: TestClient,
    settings: Settings,
    site: str,
    admin: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hot = visit(client, site, scroll=100, clicks=20)
    people = [
        ("Ada Lovelace", "ada@example.com", "+44 20 7946 0000"),
        ("Bo Diddley", "bo@example.org", "+31 6 12345678"),
        ("Cy Twombly", "cy@example.com", None),
        ("Di Prima", "di@example.net", None),
    ]
    for n, (name, email, phone) in enumerate(people):
        fields = {"FIRSTNAME": name, "EMAIL": email, "PROJECT": "Dock" if n % 2 else "Mill"}
        if phone:
            fields["PHONE"] = phone
        submit(client, monkeypatch, site, at(9, 9 + n), seen=hot if n == 0 else None, **fields)
    # Ada writes again, later: she is listed once, first, with her latest submission.
    again = submit(
        client, monkeypatch, site, at(9, 20), EMAIL="ada@example.com", PROJECT="Mill", SOURCE="FB"
    )

    first = read(client, f"/analytics/leads?{MARCH}&limit=2", admin)
    assert [lead["name"] for lead in first["leads"]] == ["Ada Lovelace", "Di Prima"]
    ada = first["leads"][0]
    assert ada["latest_submission"]["id"] == again
    assert (ada["submissions"], ada["source"], ada["project"]) == (2, "FB", "Mill")
    assert ada["email"] == "ada@example.com"  # an admin sees it whole
    assert ada["phone"] == "+442079460000"
    assert first["has_more"] is True
    second = read(client, f"/analytics/leads?{MARCH}&limit=2&cursor={first['next_cursor']}", admin)
    assert [lead["name"] for lead in second["leads"]] == ["Cy Twombly", "Bo Diddley"]
    assert (second["has_more"], second["next_cursor"]) == (False, None)

    def names(query: str) -> list[str]:
        found = read(client, f"/analytics/leads?{MARCH}&{query}", admin)
        return [lead["name"] for lead in found["leads"]]

    assert names("project=Dock") == ["Di Prima", "Bo Diddley"]
    assert names("project=Mill") == ["Ada Lovelace", "Cy Twombly"]
    assert names("source=FB") == ["Ada Lovelace"]
    # Her first submission came from a Hot visit, her latest from none.
    assert names("engagement=Hot") == ["Ada Lovelace"]
    assert names("engagement=none&limit=10") == [
        "Ada Lovelace",
        "Di Prima",
        "Cy Twombly",
        "Bo Diddley",
    ]
    assert names("search=LOVEL") == ["Ada Lovelace"]
    assert names("search=example.org") == ["Bo Diddley"]
    assert names("search=12345") == ["Bo Diddley"]
    assert names("search=nobody-at-all") == []
    assert read(client, "/analytics/leads?from=2026-04-01&to=2026-04-30", admin)["leads"] == []

    for query, parameter in (
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=nonsense", "cursor"),
        ("suspicion=maybe", "suspicion"),
    ):
        bad = read(client, f"/analytics/leads?{query}", admin, 400)
        assert parameter in bad["error"], bad


def test_a_leads_timeline_is_newest_first_with_its_status_changes_and_conversations(
    client: TestClient,
    settings: Settings,
    site: str,
    admin: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = visit(client, site, scroll=50, clicks=3)
    earlier = datetime.now(UTC) - timedelta(hours=2)
    submit(
        client,
        monkeypatch,
        site,
        earlier,
        seen=seen,
        FIRSTNAME="Ada",
        EMAIL="ada@example.com",
        PHONE="+31612345678",
    )
    (listed,) = read(client, "/analytics/leads", admin)["leads"]
    lead_id = listed["id"]
    key = make_key(settings, "acme", "admin")
    changed = client.patch(
        "/api/leads", json={"id": lead_id, "status": "qualified"}, headers={"X-API-KEY": key}
    )
    assert changed.status_code == 200, changed.text
    started = client.post(
        "/api/v1/conversations",
        json={"contact": {"email": "ada@example.com"}, "message": {"text": "Is it free?"}},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert started.status_code == 201, started.text

    detail = read(client, f"/analytics/leads/{lead_id}", admin)
    assert detail["lead"]["id"] == lead_id
    assert detail["lead"]["status"] == "qualified"
    entries = detail["timeline"]
    moments = [entry["at"] for entry in entries]
    assert moments == sorted(moments, reverse=True)
    kinds = [entry["type"] for entry in entries]
    assert kinds[:2] == ["message", "conversation"]
    assert {"visit", "event", "submission", "status_change"} <= set(kinds)
    changes = [(e["from_status"], e["to_status"]) for e in entries if e["type"] == "status_change"]
    assert changes == [("open", "qualified"), (None, "open")]
    (submitted,) = [entry for entry in entries if entry["type"] == "submission"]
    assert submitted["email"] == "ada@example.com"
    assert submitted["fields"]["FIRSTNAME"] == "Ada"
    events = [entry for entry in entries if entry["type"] == "event"]
    assert [entry["event"] for entry in events].count("click") == 3
    assert "scroll" in {entry["event"] for entry in events}
    assert all(entry["visit_id"] == seen["session_id"] for entry in events)
    (message,) = [entry for entry in entries if entry["type"] == "message"]
    assert message["text"] == "Is it free?"
    assert detail["limits"]["events"] == 200

    read(client, "/analytics/leads/lead_missing", admin, 404)
    elsewhere = make_key(settings, "globex", "admin")
    theirs = client.post("/api/leads", json={"name": "Zed"}, headers={"X-API-KEY": elsewhere})
    assert theirs.status_code == 201, theirs.text
    their_id = theirs.json()["data"]["id"]
    read(client, f"/analytics/leads/{their_id}", admin, 404)
    # The options are not taken for a lead's id.
    assert "projects" in read(client, "/analytics/leads/projects", admin)


def test_a_preflight_needs_no_key_and_other_methods_are_refused(client: TestClient) -> None:
    assert client.options("/analytics/engine/overview", headers=PAGE).status_code == 204
    assert client.post("/analytics/leads").status_code == 405
