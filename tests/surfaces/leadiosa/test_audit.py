"""``GET /api/v1/audit``: the workspace's audit log, filtered and paged by cursor."""

from __future__ import annotations

import base64
import json
from datetime import timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import create_engine, update
from starlette.testclient import TestClient

from leadline.audit.service import Actor
from leadline.config import Settings
from leadline.kit.cursors import encode
from leadline.kit.time import iso_millis, parse_datetime, utcnow
from leadline.models import AuditEvent
from leadline.surfaces.leadiosa.schemas import AuditList
from tests.fixtures.audit import audit_rows, run_sql
from tests.fixtures.factories import make_key
from tests.fixtures.leadiosa import (
    TIMESTAMP,
    bearer,
    error_of,
    make_job,
    record_events,
    workspace_id,
)


def listed(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/audit", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    AuditList.model_validate(body)
    return body


def seqs(body: dict[str, Any]) -> list[int]:
    return [event["seq"] for event in body["data"]]


def walk(client: TestClient, **params: Any) -> list[int]:
    """Every seq the list yields, page after page."""
    found: list[int] = []
    body = listed(client, **params)
    while True:
        found += seqs(body)
        if not body["pagination"]["has_more"]:
            assert "next_cursor" not in body["pagination"]
            return found
        body = listed(client, **params, after=body["pagination"]["next_cursor"])


def test_events_come_newest_first_with_every_field(
    leadiosa: TestClient, settings: Settings
) -> None:
    # Workspace creation and key creation (seq 1 and 2) came from the command line.
    replayed = make_job(settings)
    response = leadiosa.post(f"/api/v1/jobs/{replayed}/replay", headers={"User-Agent": "curl/8"})
    assert response.status_code == 200
    body = listed(leadiosa)
    assert seqs(body) == [3, 2, 1]
    assert body["pagination"] == {"has_more": False}
    newest, key_created, _ = body["data"]
    stored = audit_rows(settings)[-1]
    stored_at = stored["occurred_at"]  # text on SQLite when read without the model
    if isinstance(stored_at, str):
        stored_at = parse_datetime(stored_at)
    key_id = key_created["target"]["id"]
    assert newest == {
        "id": stored["id"],
        "seq": 3,
        "occurred_at": iso_millis(stored_at),
        "actor": {"type": "key", "id": key_id},
        "action": "job.replayed",
        "target": {"type": "job", "id": replayed},
        "changes": {"state": {"before": "dead", "after": "queued"}},
        "ip": "testclient",
        "user_agent": "curl/8",
        "request_id": response.headers["X-Request-ID"],
        "hash": stored["hash"],
        "prev_hash": key_created["hash"],
    }
    assert TIMESTAMP.match(newest["occurred_at"])
    # Recorded at the command line: no address, agent or request; a "before" that was not set.
    assert "ip" not in key_created
    assert "user_agent" not in key_created
    assert "request_id" not in key_created
    assert key_created["changes"]["role"] == {"after": "admin"}
    assert "null" not in json.dumps(body)


def test_empty_optional_fields_are_omitted(leadiosa: TestClient, settings: Settings) -> None:
    ws = workspace_id(settings)
    run_sql(
        settings,
        "UPDATE audit_events SET changes = '{}' WHERE workspace_id = :ws AND seq = 1",
        ws=ws,
    )
    record_events(settings, actor=Actor("cli", None), target=("ad_spend", None))
    newest = listed(leadiosa)["data"][0]
    assert newest["actor"] == {"type": "cli"}
    assert newest["target"] == {"type": "ad_spend"}
    oldest = listed(leadiosa)["data"][-1]
    assert oldest["seq"] == 1
    assert "changes" not in oldest


def test_filters(leadiosa: TestClient, settings: Settings) -> None:
    record_events(settings, action="lead.created", target=("lead", "lead_1"))  # 3
    record_events(settings, action="lead.created", target=("lead", "lead_2"))  # 4
    record_events(
        settings, action="lead.updated", target=("lead", "lead_1"), actor=Actor.key("key_b")
    )  # 5
    record_events(settings, action="ad_spend.imported", target=("ad_spend", None))  # 6
    assert seqs(listed(leadiosa, action="lead.created")) == [4, 3]
    assert seqs(listed(leadiosa, target="lead")) == [5, 4, 3]
    assert seqs(listed(leadiosa, target="lead:lead_1")) == [5, 3]
    assert seqs(listed(leadiosa, target="ad_spend")) == [6]
    assert seqs(listed(leadiosa, actor="key_b")) == [5]
    assert seqs(listed(leadiosa, actor="key_b", action="lead.created")) == []
    assert seqs(listed(leadiosa, action="lead.created", limit=1, after=encode({"seq": 4}))) == [3]


def test_time_window(leadiosa: TestClient, settings: Settings) -> None:
    record_events(settings, count=5)  # seqs 3-7
    # Seq n happened 7 - n days ago.
    now = utcnow()
    ws = workspace_id(settings)
    engine = create_engine(settings.sync_url)
    try:
        with engine.begin() as conn:
            for seq in range(1, 8):
                conn.execute(
                    update(AuditEvent)
                    .where(AuditEvent.workspace_id == ws, AuditEvent.seq == seq)
                    .values(occurred_at=now - timedelta(days=7 - seq))
                )
    finally:
        engine.dispose()
    three_days_ago = iso_millis(now - timedelta(days=3))
    assert seqs(listed(leadiosa, since=three_days_ago)) == [7, 6, 5, 4]
    assert seqs(listed(leadiosa, until=three_days_ago)) == [3, 2, 1]
    assert seqs(listed(leadiosa, since=three_days_ago, until=iso_millis(now))) == [6, 5, 4]
    # A bare date is the start of that UTC day; a zone offset is honoured.
    day = (now - timedelta(days=2)).date().isoformat()
    assert seqs(listed(leadiosa, since=day)) == [7, 6, 5]
    offset = (now - timedelta(days=1, hours=2)).astimezone(timezone(timedelta(hours=5)))
    assert seqs(listed(leadiosa, since=offset.isoformat())) == [7, 6]


def test_pages_follow_on_and_ignore_events_recorded_meanwhile(
    leadiosa: TestClient, settings: Settings
) -> None:
    record_events(settings, count=8)  # seqs 3-10
    first = listed(leadiosa, limit=4)
    assert seqs(first) == [10, 9, 8, 7]
    assert first["pagination"]["has_more"] is True
    cursor = first["pagination"]["next_cursor"]
    assert cursor.startswith("cur_")
    record_events(settings, count=5)  # seqs 11-15, newer than the first page
    second = listed(leadiosa, limit=4, after=cursor)
    assert seqs(second) == [6, 5, 4, 3]
    record_events(settings, count=2)
    third = listed(leadiosa, limit=4, after=second["pagination"]["next_cursor"])
    assert seqs(third) == [2, 1]
    assert third["pagination"] == {"has_more": False}
    # A page that ends exactly at the last event says so, without an empty page after it.
    assert walk(leadiosa, limit=17) == list(range(17, 0, -1))
    assert listed(leadiosa, limit=17)["pagination"] == {"has_more": False}
    assert walk(leadiosa, limit=5) == list(range(17, 0, -1))
    assert len(listed(leadiosa)["data"]) == 17
    record_events(settings, count=30)
    assert len(listed(leadiosa)["data"]) == 25  # the default page size
    assert len(listed(leadiosa, limit=100)["data"]) == 47


def test_a_workspace_sees_only_its_own_events(leadiosa: TestClient, settings: Settings) -> None:
    other_key = make_key(settings, "other", "admin")
    record_events(settings, "acme", count=3, action="acme.secret")
    record_events(settings, "other", count=2, action="other.thing")
    other_actions = {"workspace.created", "api_key.created", "other.thing"}
    acme_ids = {row["id"] for row in audit_rows(settings, "acme")}
    assert len(walk(leadiosa, limit=2)) == len(acme_ids) == 5
    leadiosa.headers.update(bearer(other_key))  # from here on, workspace "other" asks
    other = listed(leadiosa)
    assert {event["action"] for event in other["data"]} == other_actions
    assert not acme_ids & {event["id"] for event in other["data"]}
    assert listed(leadiosa, action="acme.secret")["data"] == []
    # A cursor pointing past acme's events still lists only the caller's own.
    beyond = listed(leadiosa, after=encode({"seq": 100}))
    assert {event["action"] for event in beyond["data"]} == other_actions


def _cursor(raw: bytes) -> str:
    return "cur_" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("params", "code", "needle"),
    [
        ({"limit": "0"}, "validation_error", "limit"),
        ({"limit": "101"}, "validation_error", "limit"),
        ({"limit": "many"}, "validation_error", "limit"),
        ({"after": "nonsense"}, "invalid_cursor", "after"),
        ({"after": "cur_"}, "invalid_cursor", "after"),
        ({"after": "cur_@@@"}, "invalid_cursor", "after"),
        ({"after": "cur_" + "A" * 600}, "invalid_cursor", "after"),
        ({"after": _cursor(b"not json")}, "invalid_cursor", "after"),
        ({"after": _cursor(b"[1]")}, "invalid_cursor", "after"),
        ({"after": _cursor(b'{"seq": "7"}')}, "invalid_cursor", "after"),
        ({"after": _cursor(b'{"seq": true}')}, "invalid_cursor", "after"),
        ({"after": _cursor(b'{"seq": -1}')}, "invalid_cursor", "after"),
        ({"after": _cursor(b'{"seq": 99999999999999999999}')}, "invalid_cursor", "after"),
        ({"after": _cursor(b'{"sequence": 7}')}, "invalid_cursor", "after"),
        ({"since": "yesterday"}, "validation_error", "since"),
        ({"until": "2026-13-01"}, "validation_error", "until"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "validation_error", "since"),
        ({"target": ":lead_1"}, "validation_error", "target"),
        ({"target": "lead:"}, "validation_error", "target"),
        ({"action": "a\x00b"}, "validation_error", "action"),
        ({"actor": "k" * 201}, "validation_error", "actor"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    leadiosa: TestClient, params: dict[str, str], code: str, needle: str
) -> None:
    response = leadiosa.get("/api/v1/audit", params=params)
    assert needle in error_of(response, 400, code)["message"]


def test_a_job_cursor_is_not_an_audit_cursor(leadiosa: TestClient, settings: Settings) -> None:
    for _ in range(3):
        make_job(settings)
    jobs_cursor = leadiosa.get("/api/v1/jobs?limit=1").json()["pagination"]["next_cursor"]
    error_of(leadiosa.get("/api/v1/audit", params={"after": jobs_cursor}), 400, "invalid_cursor")


def test_empty_filters_filter_nothing(leadiosa: TestClient) -> None:
    """``since=``, ``action=`` and the other filters given empty are as if not given, as an
    empty ``after=`` is the first page."""
    everything = leadiosa.get("/api/v1/audit").json()["data"]
    assert everything
    for parameter in ("since", "until", "action", "target", "actor"):
        answer = leadiosa.get("/api/v1/audit", params={parameter: ""})
        assert answer.status_code == 200, (parameter, answer.text)
        assert answer.json()["data"] == everything, parameter
    jobs = leadiosa.get("/api/v1/jobs", params={"kind": ""})
    assert jobs.status_code == 200
    assert jobs.json()["data"] == leadiosa.get("/api/v1/jobs").json()["data"]
