"""``/api/v1/jobs``: listing the workspace's jobs, reading one, replaying dead ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.kit.time import utcnow
from leadline.surfaces.leadiosa.schemas import JobEnvelope, JobList, ReplayedEnvelope
from tests.fixtures.audit import audit_rows
from tests.fixtures.factories import fetch_rows, make_key
from tests.fixtures.leadiosa import TIMESTAMP, bearer, error_of, make_job


def listed(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/jobs", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    JobList.model_validate(body)
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [job["id"] for job in body["data"]]


def state_of(settings: Settings, job_id: str) -> str:
    return str(fetch_rows(settings, "SELECT state FROM jobs WHERE id = :id", id=job_id)[0]["state"])


def test_a_job_with_every_field(leadiosa: TestClient, settings: Settings) -> None:
    job_id = make_job(settings, kind="webhook.deliver", payload={"delivery": "dlv_1", "n": 2})
    response = leadiosa.get(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 200
    body = response.json()
    JobEnvelope.model_validate(body)
    job = body["data"]
    assert set(job) == {
        "id",
        "kind",
        "state",
        "attempts",
        "max_attempts",
        "payload",
        "run_at",
        "created_at",
        "updated_at",
        "finished_at",
        "last_error",
    }
    assert (job["id"], job["kind"], job["state"]) == (job_id, "webhook.deliver", "dead")
    assert job["payload"] == {"delivery": "dlv_1", "n": 2}
    assert job["attempts"] == job["max_attempts"]
    assert job["last_error"] == "boom"
    for name in ("run_at", "created_at", "updated_at", "finished_at"):
        assert TIMESTAMP.match(job[name]), name
    # A queued job has no finish, no error and (here) no payload: those fields are left out.
    queued = leadiosa.get(f"/api/v1/jobs/{make_job(settings, state='queued')}").json()["data"]
    assert not {"finished_at", "last_error", "payload"} & set(queued)


def test_list_is_newest_first_and_filtered(leadiosa: TestClient, settings: Settings) -> None:
    now = utcnow()
    a = make_job(settings, kind="a", created_at=now - timedelta(minutes=3))
    b = make_job(settings, kind="b", created_at=now - timedelta(minutes=2))
    c = make_job(settings, kind="a", state="succeeded", created_at=now - timedelta(minutes=1))
    d = make_job(settings, kind="a", state="queued", created_at=now)
    assert ids(listed(leadiosa)) == [d, c, b, a]
    assert ids(listed(leadiosa, state="dead")) == [b, a]
    assert ids(listed(leadiosa, kind="a")) == [d, c, a]
    assert ids(listed(leadiosa, state="dead", kind="a")) == [a]
    assert ids(listed(leadiosa, kind="nothing")) == []


def test_pages_follow_on_and_ignore_jobs_created_meanwhile(
    leadiosa: TestClient, settings: Settings
) -> None:
    now = utcnow()
    # Seven jobs, two of them created in the same microsecond: the id breaks the tie.
    times = [now - timedelta(seconds=n) for n in (7, 6, 5, 5, 4, 3, 2)]
    made = [make_job(settings, created_at=at) for at in times]
    expected = sorted(made, key=lambda j: (times[made.index(j)], j), reverse=True)
    first = listed(leadiosa, limit=3)
    assert ids(first) == expected[:3]
    assert first["pagination"]["has_more"] is True
    for n in range(4):  # newer than every listed job
        make_job(settings, created_at=now + timedelta(seconds=n))
    second = listed(leadiosa, limit=3, after=first["pagination"]["next_cursor"])
    assert ids(second) == expected[3:6]
    third = listed(leadiosa, limit=3, after=second["pagination"]["next_cursor"])
    assert ids(third) == expected[6:]
    assert third["pagination"] == {"has_more": False}


def test_replaying_one_dead_job(leadiosa: TestClient, settings: Settings) -> None:
    dead = make_job(settings)
    other = make_job(settings)
    response = leadiosa.post(f"/api/v1/jobs/{dead}/replay")
    assert response.status_code == 200, response.text
    job = JobEnvelope.model_validate(response.json()).data
    assert (job.id, job.state, job.attempts, job.finished_at) == (dead, "queued", 0, None)
    assert job.last_error == "boom"  # kept until the job runs again
    assert state_of(settings, dead) == "queued"
    assert state_of(settings, other) == "dead"
    [event] = audit_rows(settings, action="job.replayed")
    assert (event["actor_type"], event["target_type"], event["target_id"]) == ("key", "job", dead)
    assert event["actor_id"].startswith("key_")
    assert event["changes"] == {"state": {"before": "dead", "after": "queued"}}
    assert event["request_id"] == response.headers["X-Request-ID"]
    # Now queued: a second replay is a conflict, and changes nothing.
    error_of(leadiosa.post(f"/api/v1/jobs/{dead}/replay"), 409, "conflict")
    assert len(audit_rows(settings, action="job.replayed")) == 1


def test_replaying_every_dead_job(leadiosa: TestClient, settings: Settings) -> None:
    dead_a = [make_job(settings, kind="a") for _ in range(2)]
    dead_b = make_job(settings, kind="b")
    queued = make_job(settings, kind="a", state="queued")
    elsewhere = make_job(settings, "other", kind="a")
    unowned = make_job(settings, None, kind="a")

    response = leadiosa.post("/api/v1/jobs/replay", json={"kind": "a"})
    assert response.status_code == 200, response.text
    assert ReplayedEnvelope.model_validate(response.json()).data.replayed == 2
    assert [state_of(settings, j) for j in dead_a] == ["queued", "queued"]
    assert state_of(settings, dead_b) == "dead"
    assert state_of(settings, queued) == "queued"
    assert state_of(settings, elsewhere) == "dead"
    assert state_of(settings, unowned) == "dead"
    [event] = audit_rows(settings, action="job.replayed")
    assert event["target_id"] is None
    assert event["changes"] == {
        "replayed": {"before": None, "after": 2},
        "kind": {"before": None, "after": "a"},
    }

    everything = leadiosa.post("/api/v1/jobs/replay")
    assert everything.json() == {"data": {"replayed": 1}}
    assert state_of(settings, dead_b) == "queued"
    assert leadiosa.post("/api/v1/jobs/replay", json={}).json() == {"data": {"replayed": 0}}
    # Nothing replayed, nothing changed: no event for it.
    assert len(audit_rows(settings, action="job.replayed")) == 2
    assert state_of(settings, elsewhere) == "dead"


def test_a_workspace_never_sees_or_replays_another_workspace_jobs(
    leadiosa: TestClient, settings: Settings
) -> None:
    mine = make_job(settings, "acme")
    theirs = make_job(settings, "other")
    unowned = make_job(settings, None)
    assert ids(listed(leadiosa)) == [mine]
    for job_id in (theirs, unowned):
        error_of(leadiosa.get(f"/api/v1/jobs/{job_id}"), 404, "job_not_found")
        error_of(leadiosa.post(f"/api/v1/jobs/{job_id}/replay"), 404, "job_not_found")
        assert state_of(settings, job_id) == "dead"
    other = bearer(make_key(settings, "other", "admin"))
    response = leadiosa.get("/api/v1/jobs", headers=other)
    assert [job["id"] for job in response.json()["data"]] == [theirs]
    error_of(leadiosa.get(f"/api/v1/jobs/{mine}", headers=other), 404, "job_not_found")
    replayed = leadiosa.post("/api/v1/jobs/replay", headers=other)
    assert replayed.json() == {"data": {"replayed": 1}}
    assert (state_of(settings, theirs), state_of(settings, mine)) == ("queued", "dead")
    assert audit_rows(settings, "acme", action="job.replayed") == []
    assert leadiosa.post("/api/v1/jobs/replay").json() == {"data": {"replayed": 1}}
    assert (state_of(settings, mine), state_of(settings, unowned)) == ("queued", "dead")
