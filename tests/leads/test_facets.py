"""Lead facets: the per-workspace counts that give filtered lists their total without a COUNT,
and the list order and indexes that serve those pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.leads import service as leads
from leadline.models import SEARCH_INDEX, SORT_INDEXES, UNMODELLED_INDEXES
from leadline.workspaces import service as workspaces
from tests.fixtures.factories import (
    fetch_rows,
    make_key,
    run_in_transaction,
    set_lead_columns,
    set_workspace,
)


def create(api: TestClient, **body: Any) -> str:
    response = api.post("/api/leads", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def patch(api: TestClient, **body: Any) -> None:
    response = api.patch("/api/leads", json=body)
    assert response.status_code == 200, response.text


def facets(settings: Settings, slug: str = "acme", *, recount: bool = False) -> dict[str, int]:
    async def work(session: AsyncSession) -> dict[str, int]:
        workspace = await workspaces.require(session, slug)
        if recount:
            await leads.recount_facets(session, workspace.id)
        counts = await leads.LeadRepository(session).facets(workspace.id)
        return {facet: count for facet, count in counts.items() if count}

    return run_in_transaction(settings, work)


@pytest.fixture
def mixed(api: TestClient, settings: Settings, client: TestClient) -> dict[str, str]:
    """Leads with and without each kind of faceted field, moved through the pipeline."""
    set_workspace(settings, "acme", allow_bulk_updates=True)
    made = {
        "a": create(api, name="A", gclid="g-1", website="https://a.example", utm_source="x"),
        "b": create(api, name="B", gclid="g-2", website="https://a.example", fbc="fb.1"),
        "c": create(api, name="C", email="same@example.com", website="https://b.example"),
        "d": create(api, name="D", email="same@example.com", msclkid="m-1", utm_term="t"),
        "e": create(api, name="E", phone="+31612345678", value=10),
    }
    patch(api, id=made["a"], status="won", value=500)
    patch(api, id=made["b"], status="qualified")
    patch(api, id=made["b"], status="lost", lossReason="price")
    patch(api, email="same@example.com", status="qualified", value="20")  # two leads at once
    # What must not count: a rejected lead, a retried one, another workspace's lead.
    assert api.post("/api/leads", json={"email": "broken"}).status_code == 400
    for _ in range(2):
        api.post("/api/leads", json={"name": "F", "gclid": "g-3"}, headers={"Idempotency-Key": "f"})
    other = make_key(settings, "other", "admin")
    client.post("/api/leads", json={"name": "Z", "gclid": "z"}, headers={"X-API-KEY": other})
    return made


def test_facets_kept_by_every_write_match_a_recount(settings: Settings, mixed: Any) -> None:
    kept = facets(settings)
    assert kept["status:open"] == 2  # e and the retried f
    assert kept["status:qualified"] == 2  # c and d, by one bulk update
    assert (kept["status:won"], kept["status:lost"]) == (1, 1)
    assert kept["source:api"] == 6
    assert kept["website:https://a.example"] == 2
    assert (kept["has:gclid"], kept["has:value"], kept["has:qualified_at"]) == (3, 4, 4)
    assert "has:label_id" not in kept
    assert facets(settings, recount=True) == kept
    assert facets(settings, "other") == {"status:open": 1, "source:api": 1, "has:gclid": 1}


@pytest.mark.parametrize(
    "query",
    [
        "status=open",
        "status=won,lost",
        "status=won,won,win",
        "status=qualified",
        "source=api",
        "source=gtm",
        "website=https://a.example",
        "website=https://nowhere.example",
        "website[exists]=true",
        "website[exists]=false",
        "gclid[exists]=true",
        "gclid[exists]=false",
        "msclkid[exists]=true",
        "value[exists]=true",
        "value[exists]=false",
        "qualifiedAt[exists]=true",
        "qualifiedAt[exists]=false",
        "utm_term[exists]=true",
        "labelId[exists]=false",
        "status=qualified&value[exists]=true",  # two filters: counted in SQL
    ],
)
def test_full_page_totals_equal_the_matches(api: TestClient, mixed: Any, query: str) -> None:
    everything = api.get(f"/api/leads?{query}&limit=100").json()
    matches = len(everything["data"])
    assert everything["meta"]["pagination"]["total"] == matches
    # limit=1 fills the first page whenever anything matches, so the total must be looked up.
    first = api.get(f"/api/leads?{query}&limit=1").json()["meta"]["pagination"]
    assert (first["total"], first["totalPages"], first["hasMore"]) == (
        matches,
        matches,
        matches > 1,
    )


def test_ties_break_by_creation_then_id_in_the_last_key_direction(
    api: TestClient, settings: Settings
) -> None:
    made = [create(api, name="Same", value=100) for _ in range(3)]
    for day, lead_id in zip((3, 1, 2), made, strict=True):
        set_lead_columns(settings, lead_id, created_at=datetime(2026, 5, day, tzinfo=UTC))
    newest_first = [made[0], made[2], made[1]]

    def order(sort: str) -> list[str]:
        response = api.get(f"/api/leads?sort={sort}")
        assert response.status_code == 200, response.text
        return [lead["id"] for lead in response.json()["data"]]

    assert order("value:desc") == newest_first
    assert order("value:asc") == newest_first[::-1]
    assert order("name:asc,value:desc") == newest_first
    assert order("status:asc") == newest_first[::-1]


def test_database_specific_indexes_exist(settings: Settings, database_url: str) -> None:
    if database_url.startswith("sqlite"):
        rows = fetch_rows(settings, "SELECT name, sql AS definition FROM sqlite_master")
    else:
        rows = fetch_rows(
            settings, "SELECT indexname AS name, indexdef AS definition FROM pg_indexes"
        )
    definitions = {row["name"]: row["definition"] for row in rows}
    postgresql = database_url.startswith("postgresql")
    assert set(definitions) >= UNMODELLED_INDEXES - (set() if postgresql else {SEARCH_INDEX})
    for name, column in SORT_INDEXES.items():
        assert column in definitions[name]
        nulls_first = f"{column} NULLS FIRST"
        assert (nulls_first in definitions[name]) is postgresql


def test_postgresql_search_uses_the_trigram_index(settings: Settings, database_url: str) -> None:
    """The searched expression must stay the indexed one, or search silently reads every lead."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the trigram index is PostgreSQL's")
    from sqlalchemy import create_engine, select, text
    from sqlalchemy.dialects import postgresql

    from leadline.leads.repository import search_text
    from leadline.models import Lead

    query = select(Lead.id).where(search_text().like("%jansen%", escape="\\"))
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    engine = create_engine(settings.sync_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(row[0] for row in conn.execute(text(f"EXPLAIN {sql}")))
    finally:
        engine.dispose()
    assert SEARCH_INDEX in plan, plan
