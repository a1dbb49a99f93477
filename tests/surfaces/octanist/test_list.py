"""GET /api/leads: pagination, filters with operators, sort, search, fields, legacy aliases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from tests.fixtures.factories import set_lead_columns


def create(api: TestClient, **body: Any) -> str:
    response = api.post("/api/leads", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def ids(api: TestClient, query: str) -> list[str]:
    response = api.get(f"/api/leads?{query}")
    assert response.status_code == 200, response.text
    return [lead["id"] for lead in response.json()["data"]]


def error(api: TestClient, query: str) -> tuple[int, str]:
    response = api.get(f"/api/leads?{query}")
    return response.status_code, response.json()["error"]["code"]


@pytest.fixture
def three(api: TestClient, settings: Settings) -> dict[str, str]:
    """Three leads on three days with distinct attribution and status."""
    a = create(
        api,
        name="Alice Apple",
        email="alice@apple.example",
        gclid="g-a",
        utm_source="google",
        utm_campaign="spring",
        website="https://a.example",
    )
    b = create(
        api,
        name="Bob Berry",
        email="bob@berry.example",
        phone="+31612345678",
        fbc="fb.1.1.x",
        utm_source="facebook",
        utm_campaign="summer",
    )
    c = create(api, name="Carol Cherry", email="carol@cherry.example", custom="vip")
    set_lead_columns(
        settings,
        a,
        created_at=datetime(2026, 1, 10, 8, tzinfo=UTC),
        updated_at=datetime(2026, 1, 10, 8, tzinfo=UTC),
    )
    set_lead_columns(
        settings,
        b,
        created_at=datetime(2026, 2, 10, 8, tzinfo=UTC),
        updated_at=datetime(2026, 2, 10, 8, tzinfo=UTC),
    )
    set_lead_columns(
        settings,
        c,
        created_at=datetime(2026, 3, 10, 8, tzinfo=UTC),
        updated_at=datetime(2026, 3, 10, 8, tzinfo=UTC),
    )
    api.patch("/api/leads", json={"id": a, "status": "won", "value": 5000})
    api.patch("/api/leads", json={"id": b, "status": "qualified", "value": 300})
    # PATCH touched updatedAt; put it back for predictable updatedAt filters.
    set_lead_columns(
        settings,
        a,
        updated_at=datetime(2026, 1, 11, 8, tzinfo=UTC),
        qualified_at=datetime(2026, 1, 11, 8, tzinfo=UTC),
    )
    set_lead_columns(
        settings,
        b,
        updated_at=datetime(2026, 2, 11, 8, tzinfo=UTC),
        qualified_at=datetime(2026, 2, 11, 8, tzinfo=UTC),
    )
    return {"a": a, "b": b, "c": c}


def test_default_order_is_newest_first_with_pagination(
    api: TestClient, three: dict[str, str]
) -> None:
    response = api.get("/api/leads")
    body = response.json()
    assert [lead["id"] for lead in body["data"]] == [three["c"], three["b"], three["a"]]
    assert body["meta"]["pagination"] == {
        "limit": 50,
        "page": 1,
        "totalPages": 1,
        "total": 3,
        "hasMore": False,
    }


def test_pages(api: TestClient, three: dict[str, str]) -> None:
    first = api.get("/api/leads?limit=2&page=1").json()
    second = api.get("/api/leads?limit=2&page=2").json()
    beyond = api.get("/api/leads?limit=2&page=3").json()
    assert first["meta"]["pagination"] == {
        "limit": 2,
        "page": 1,
        "totalPages": 2,
        "total": 3,
        "hasMore": True,
    }
    assert second["meta"]["pagination"] == {
        "limit": 2,
        "page": 2,
        "totalPages": 2,
        "total": 3,
        "hasMore": False,
    }
    assert beyond["meta"]["pagination"]["total"] == 3
    exact = api.get("/api/leads?limit=3").json()["meta"]["pagination"]
    assert (exact["total"], exact["totalPages"], exact["hasMore"]) == (3, 1, False)
    assert [x["id"] for x in first["data"] + second["data"]] == [three["c"], three["b"], three["a"]]
    assert beyond["data"] == []


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=abc", "page=0", "page=-1", "page=x", "limit=1.5"],
)
def test_bad_limit_or_page_is_validation_error(api: TestClient, query: str) -> None:
    assert error(api, query) == (400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=won", ["a"]),
        ("status=win", ["a"]),
        ("status=open", ["c"]),
        ("status=won,qualified", ["b", "a"]),
        ("source=api", ["c", "b", "a"]),
        ("source=inbound", []),
        ("gclid=g-a", ["a"]),
        ("gclid[exists]=true", ["a"]),
        ("gclid[exists]=false", ["c", "b"]),
        ("fbc[exists]=true", ["b"]),
        ("utm_source=facebook", ["b"]),
        ("utm_campaign=spring", ["a"]),
        ("utm_medium[exists]=false", ["c", "b", "a"]),
        ("website=https://a.example", ["a"]),
        ("labelId[exists]=false", ["c", "b", "a"]),
        ("value=5000", ["a"]),
        ("value[gte]=300", ["b", "a"]),
        ("value[gt]=300", ["a"]),
        ("value[lt]=5000", ["b"]),
        ("value[lte]=5000", ["b", "a"]),
        ("value[exists]=false", ["c"]),
        ("createdAt[gte]=2026-02-10", ["c", "b"]),
        ("createdAt[gt]=2026-02-10", ["c"]),
        ("createdAt[lt]=2026-02-10", ["a"]),
        ("createdAt[lte]=2026-02-10", ["b", "a"]),
        ("createdAt=2026-02-10", ["b"]),
        ("createdAt[gte]=2026-02-10T08:00:00Z", ["c", "b"]),
        ("createdAt[gt]=2026-02-10T08:00:00.000Z", ["c"]),
        ("createdAt[gte]=2026-02-10T09:00:00%2B01:00", ["c", "b"]),
        ("createdAt[gte]=2026-01-01&createdAt[lt]=2026-03-01", ["b", "a"]),
        ("updatedAt[gte]=2026-02-11", ["c", "b"]),
        ("updated_after=2026-02-11", ["c", "b"]),
        ("updated_after=2026-02-11T08:00:00Z", ["c", "b"]),
        ("qualifiedAt[exists]=true", ["b", "a"]),
        ("qualifiedAt[lt]=2026-02-01", ["a"]),
        ("status=won&gclid[exists]=true", ["a"]),
    ],
)
def test_filters(api: TestClient, three: dict[str, str], query: str, expected: list[str]) -> None:
    assert ids(api, query) == [three[name] for name in expected]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("color=red", 400, "INVALID_FILTER"),
        ("createdAt[between]=2026-01-01", 400, "INVALID_FILTER"),
        ("status[gte]=won", 400, "INVALID_FILTER"),
        ("gclid[gt]=a", 400, "INVALID_FILTER"),
        ("status=winning", 400, "INVALID_FILTER"),
        ("gclid[exists]=perhaps", 400, "INVALID_FILTER"),
        ("value[gte]=lots", 400, "INVALID_FILTER"),
        ("createdAt[gte]=yesterday", 400, "INVALID_DATE"),
        ("createdAt=2026-13-45", 400, "INVALID_DATE"),
        ("updated_after=soon", 400, "INVALID_DATE"),
        ("sort=color:asc", 400, "VALIDATION_ERROR"),
        ("sort=createdAt:sideways", 400, "VALIDATION_ERROR"),
        ("fields=id,shoeSize", 400, "VALIDATION_ERROR"),
        ("created[at]=1", 400, "INVALID_FILTER"),
    ],
)
def test_bad_filters(
    api: TestClient, three: dict[str, str], query: str, status: int, code: str
) -> None:
    assert error(api, query) == (status, code)


def test_sort(api: TestClient, three: dict[str, str]) -> None:
    a, b, c = three["a"], three["b"], three["c"]
    assert ids(api, "sort=createdAt:asc") == [a, b, c]
    assert ids(api, "sort=updated_at:desc") == [c, b, a]
    assert ids(api, "sort=updatedAt:asc") == [a, b, c]
    assert ids(api, "sort=value:desc") == [a, b, c]  # no value sorts last when descending
    assert ids(api, "sort=value:asc") == [c, b, a]
    assert ids(api, "sort=status:asc,createdAt:desc") == [c, b, a]
    assert ids(api, "sort=name") == [a, b, c]


def test_search_name_email_phone(api: TestClient, three: dict[str, str]) -> None:
    assert ids(api, "search=berry") == [three["b"]]
    assert ids(api, "search=ALICE") == [three["a"]]
    assert ids(api, "search=cherry.example") == [three["c"]]
    assert ids(api, "search=612345") == [three["b"]]
    assert ids(api, "search=%25") == []
    assert ids(api, "search=zzz") == []
    assert ids(api, "search=ob") == [three["b"]]  # shorter than a trigram
    assert ids(api, "search=Apple%20alice") == []  # never across fields


@pytest.mark.parametrize(("page", "shown"), [(1, 1), (2, 1), (3, 1), (9, 0)])
def test_search_totals_on_full_and_empty_pages(
    api: TestClient, three: dict[str, str], page: int, shown: int
) -> None:
    body = api.get(f"/api/leads?search=.example&limit=1&page={page}").json()
    assert len(body["data"]) == shown
    assert body["meta"]["pagination"]["total"] == 3


def test_fields_selects_fields(api: TestClient, three: dict[str, str]) -> None:
    data = api.get("/api/leads?fields=id,name,status&sort=createdAt:asc").json()["data"]
    assert data[0] == {"id": three["a"], "name": "Alice Apple", "status": "won"}


def test_unfiltered_total_is_exact_across_failures_retries_and_workspaces(
    api: TestClient, client: TestClient, settings: Settings
) -> None:
    from tests.fixtures.factories import fetch_rows, make_key

    for n in range(3):
        create(api, name=f"Lead {n}")
    api.post("/api/leads", json={"name": "Retried"}, headers={"Idempotency-Key": "k1"})
    api.post("/api/leads", json={"name": "Retried"}, headers={"Idempotency-Key": "k1"})
    assert api.post("/api/leads", json={"email": "broken"}).status_code == 400
    other = make_key(settings, "other", "admin")
    client.post("/api/leads", json={"name": "Theirs"}, headers={"X-API-KEY": other})

    stored = fetch_rows(settings, "SELECT lead_count FROM workspaces WHERE slug = 'acme'")
    assert stored[0]["lead_count"] == 4
    # A full first page: the total comes from the workspace's count, not from the page.
    assert api.get("/api/leads?limit=2").json()["meta"]["pagination"]["total"] == 4
    assert api.get("/api/leads?limit=2&page=2").json()["meta"]["pagination"]["total"] == 4
    always = api.get("/api/leads?limit=2&createdAt[exists]=true&updatedAt[exists]=true").json()
    assert always["meta"]["pagination"]["total"] == 4
    assert len(always["data"]) == 2
    theirs = client.get("/api/leads?limit=1", headers={"X-API-KEY": other}).json()
    assert theirs["meta"]["pagination"]["total"] == 1


def test_exists_on_required_fields(api: TestClient, three: dict[str, str]) -> None:
    assert len(ids(api, "createdAt[exists]=true")) == 3
    assert ids(api, "createdAt[exists]=false") == []
    assert len(ids(api, "updatedAt[exists]=true&status=open,won")) == 2


# A role that sees emails and phones masked may not look them up either: each of these would
# tell a marketing key what its mask hides (whether alice@apple.example is a lead).
MASKED_LOOKUPS = [
    ("email=alice%40apple.example", "email"),
    ("email=nobody%40nowhere.example", "email"),
    ("email[exists]=true", "email[exists]"),
    ("phone=%2B31612345678", "phone"),
    ("phone[exists]=false", "phone[exists]"),
    ("phoneE164=%2B31612345678", "phoneE164"),
    ("phone_e164[gte]=%2B3", "phoneE164[gte]"),
    ("search=alice%40apple", "search"),
    ("search=612345", "search"),
    ("search=Alice", "search"),  # the name is not masked, but search reads the email too
    ("sort=email:asc", "sort"),
    ("sort=createdAt:desc,phone:asc", "sort"),
    ("status=open&search=zzz&limit=500", "search"),  # refused before anything else is checked
]


@pytest.mark.parametrize(("query", "parameter"), MASKED_LOOKUPS)
def test_masked_role_cannot_filter_search_or_sort_on_masked_fields(
    api: TestClient, settings: Settings, three: dict[str, str], query: str, parameter: str
) -> None:
    from tests.fixtures.factories import make_key

    marketing = make_key(settings, "acme", "marketing")
    response = api.get(f"/api/leads?{query}", headers={"X-API-KEY": marketing})
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["success"] is False
    assert "data" not in body
    assert body["error"]["code"] == "FORBIDDEN"
    assert body["error"]["details"] == {"parameter": parameter, "role": "marketing"}
    assert f"({parameter})" in body["error"]["message"]
    # The answer is the same whether the value belongs to a lead or not: nothing of it is told.
    for secret in ("alice", "apple", "612345", "berry"):
        assert secret not in response.text


def test_admin_still_searches_and_sorts_on_email_and_phone(
    api: TestClient, three: dict[str, str]
) -> None:
    assert ids(api, "search=alice%40apple") == [three["a"]]
    assert ids(api, "search=612345") == [three["b"]]
    assert ids(api, "sort=email:asc") == [three["a"], three["b"], three["c"]]


def test_masked_role_lists_without_those_parameters_and_sees_masked(
    api: TestClient, settings: Settings, three: dict[str, str]
) -> None:
    from tests.fixtures.factories import make_key

    marketing = make_key(settings, "acme", "marketing")
    response = api.get(
        "/api/leads?status=won,qualified&sort=name:asc&search=&utm_source[exists]=true",
        headers={"X-API-KEY": marketing},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [lead["id"] for lead in data] == [three["a"], three["b"]]
    assert [lead["email"] for lead in data] == ["a***@apple.example", "b***@berry.example"]
    assert data[1]["phone"] == "+316******78"
    assert "612345" not in response.text
