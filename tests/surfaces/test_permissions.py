"""Who may call what, over every API: the tokens of an owner, an admin and an agent, and the
admin, integration and marketing keys, against the routes that ask for a permission.

A caller the route is not for is answered 403 in the surface's envelope and changes nothing;
a caller it is for gets past the check (the requests name things that do not exist, or send
what is refused further on, so they change nothing either, but for the few that create a lead
or a day's spend).
Agents work the inbox and read the people: every other route is closed to them. Admins may do
everything but close or restore the workspace; an admin key acts as the owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from tests.fixtures.factories import fetch_rows, make_key
from tests.fixtures.people import make_person, person_with_token

CALLERS = ("owner", "admin", "agent", "admin key", "integration key", "marketing key")

# Who passes each kind of check.
ANYONE = frozenset(CALLERS)
MANAGERS = frozenset({"owner", "admin", "admin key"})
PEOPLE = MANAGERS | {"agent"}
READERS = MANAGERS | {"marketing key"}
WRITERS = MANAGERS | {"integration key"}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    allowed: frozenset[str]
    json: Any = None
    params: dict[str, str] = field(default_factory=dict)
    files: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


_CSV = {"file": ("leads.csv", b"email\nimported@example.com\n", "text/csv")}
_DAYS = {"startDate": "2026-01-01", "endDate": "2026-01-31"}
_SPEND = {
    "date": "2026-01-01",
    "platform": "googleads",
    "campaignId": "c1",
    "campaignName": "Spring",
    "spend": 1,
    "currency": "EUR",
}

CALLS = (
    # Leadiosa
    Call("GET", "/api/v1/audit", MANAGERS),
    Call("GET", "/api/v1/jobs", MANAGERS),
    Call("GET", "/api/v1/jobs/job_nothing", MANAGERS),
    Call("POST", "/api/v1/jobs/replay", MANAGERS, json={}),
    Call("POST", "/api/v1/jobs/job_nothing/replay", MANAGERS),
    Call("GET", "/api/v1/webhooks/event-types", MANAGERS),
    Call("GET", "/api/v1/webhooks", MANAGERS),
    Call("POST", "/api/v1/webhooks", MANAGERS, json={"url": "https://127.0.0.1/hook"}),
    Call("GET", "/api/v1/webhooks/wh_nothing", MANAGERS),
    Call("POST", "/api/v1/webhooks/wh_nothing", MANAGERS, json={"enabled": False}),
    Call("DELETE", "/api/v1/webhooks/wh_nothing", MANAGERS),
    Call("POST", "/api/v1/webhooks/wh_nothing/rotate-secret", MANAGERS),
    Call("POST", "/api/v1/webhooks/wh_nothing/test", MANAGERS),
    Call("GET", "/api/v1/webhooks/wh_nothing/deliveries", MANAGERS),
    Call("POST", "/api/v1/webhooks/wh_nothing/deliveries/whd_nothing/redeliver", MANAGERS),
    Call("GET", "/api/v1/conversions/destinations", MANAGERS),
    Call("POST", "/api/v1/conversions/destinations", MANAGERS, json={"platform": "x", "name": "x"}),
    Call("GET", "/api/v1/conversions/destinations/cvd_nothing", MANAGERS),
    Call("PATCH", "/api/v1/conversions/destinations/cvd_nothing", MANAGERS, json={"name": "x"}),
    Call("DELETE", "/api/v1/conversions/destinations/cvd_nothing", MANAGERS),
    Call("POST", "/api/v1/conversions/destinations/cvd_nothing/test", MANAGERS),
    Call("GET", "/api/v1/leads/lead_nothing/conversions", MANAGERS),
    Call("GET", "/api/v1/conversions/expiring", MANAGERS),
    Call("GET", "/api/v1/people", PEOPLE),
    Call("GET", "/api/v1/people/me", PEOPLE),
    Call("PATCH", "/api/v1/people/{owner_id}", MANAGERS, json={"name": "Olga"}),
    Call("PATCH", "/api/v1/people/{owner_id}", MANAGERS, json={"availability": "away"}),
    Call("GET", "/api/v1/tokens", MANAGERS),
    Call("POST", "/api/v1/tokens", MANAGERS, json={"person_id": "per_nothing"}),
    Call("DELETE", "/api/v1/tokens/key_nothing", MANAGERS),
    Call("POST", "/api/v1/tokens/key_nothing/rotate", MANAGERS),
    # Octanist
    Call("GET", "/api/check", ANYONE),
    Call("GET", "/api/leads", READERS),
    Call("GET", "/api/leads/lead_nothing", READERS),
    Call("POST", "/api/leads", WRITERS, json={"name": "Ada"}),
    Call("PATCH", "/api/leads", WRITERS, json={"id": "lead_nothing", "note": "x"}),
    Call("POST", "/api/leads/import", WRITERS, files=_CSV),
    Call("POST", "/api/stats", READERS, json={}),
    Call("GET", "/api/ad-spend", READERS, params=_DAYS),
    Call("POST", "/api/ad-spend", READERS, json=_DAYS),
    Call("POST", "/api/ad-spend/import", MANAGERS, json={"rows": [_SPEND]}),
    # PulseGate
    Call("GET", "/analytics/sites", MANAGERS),
    Call("GET", "/analytics/integrations", MANAGERS),
    Call("POST", "/lead.capture", WRITERS, json={"EMAIL": "captured@example.com"}),
)


def _credentials(call: Call, token: str) -> dict[str, str]:
    # Octanist's own header where it reads it, a bearer token elsewhere.
    if call.path.startswith("/api/") and not call.path.startswith("/api/v1/"):
        return {"X-API-KEY": token}
    if call.path == "/lead.capture":
        return {"X-API-KEY": token}
    return {"Authorization": f"Bearer {token}"}


def _forbidden(answer: Any) -> bool:
    """Whether the answer is a 403 in its surface's envelope."""
    if answer.status_code != 403:
        return False
    error = answer.json()["error"]
    # PulseGate's error is its message alone; the others carry a code.
    return isinstance(error, str) or str(error["code"]).lower() == "forbidden"


@pytest.mark.parametrize("caller", CALLERS)
def test_each_caller_passes_exactly_the_checks_of_its_role(
    client: TestClient, settings: Settings, caller: str
) -> None:
    owner_id, owner = person_with_token(settings, "acme", "owner@example.com", "owner")
    tokens = {
        "owner": owner,
        "admin": person_with_token(settings, "acme", "admin@example.com", "admin")[1],
        "agent": person_with_token(settings, "acme", "agent@example.com", "agent")[1],
    }
    token = tokens.get(caller) or make_key(settings, "acme", caller.removesuffix(" key"))
    make_person(settings, "acme", "someone@example.com", role="agent")

    wrong = []
    for call in CALLS:
        answer = client.request(
            call.method,
            call.path.replace("{owner_id}", owner_id),
            json=call.json,
            params=call.params,
            files=call.files,
            headers=_credentials(call, token),
        )
        assert answer.status_code < 500, f"{call.label}: {answer.text}"
        if _forbidden(answer) == (caller in call.allowed):
            wrong.append(f"{call.label}: {answer.status_code} {answer.text[:160]}")
    assert wrong == [], f"{caller} was answered wrongly"
    made = fetch_rows(settings, "SELECT count(*) AS n FROM leads")[0]["n"]
    assert bool(made) is (caller in WRITERS)
