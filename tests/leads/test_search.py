"""Lead search: a case-insensitive substring of the name, email or phone, found through the
search index (SQLite's FTS5 table, PostgreSQL's trigram index) or lead by lead, with the same
answers either way; its count stops at a cap."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.leads import listing as leads
from leadline.leads.repository import LeadRepository, SortKey
from leadline.models import SEARCH_INDEX, SEARCH_TABLE
from leadline.workspaces import service as workspaces
from tests.fixtures.factories import (
    check_search_table,
    execute_sql,
    fetch_rows,
    make_key,
    run_in_transaction,
    set_lead_columns,
)

START = datetime(2026, 1, 1, tzinfo=UTC)


def create(api: TestClient, **body: Any) -> str:
    response = api.post("/api/leads", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def listing(api: TestClient, **params: Any) -> dict[str, Any]:
    response = api.get("/api/leads", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def found(api: TestClient, term: str, **params: Any) -> list[str]:
    return [lead["id"] for lead in listing(api, search=term, limit=100, **params)["data"]]


def found_paging(api: TestClient, term: str, limit: int = 2) -> list[str]:
    """Every match, read a few a page while ``hasMore`` says there are more."""
    ids: list[str] = []
    page = 1
    while True:
        body = listing(api, search=term, limit=limit, page=page)
        ids += [lead["id"] for lead in body["data"]]
        if not body["meta"]["pagination"]["hasMore"]:
            return ids
        page += 1


def spaced(api: TestClient, settings: Settings, *bodies: dict[str, Any]) -> list[str]:
    """Leads created a day apart, oldest first: a predictable default order."""
    ids = []
    for n, body in enumerate(bodies):
        lead_id = create(api, **body)
        set_lead_columns(settings, lead_id, created_at=START + timedelta(days=n))
        ids.append(lead_id)
    return ids


@pytest.fixture
def people(api: TestClient, settings: Settings) -> dict[str, str]:
    a, b, c, d = spaced(
        api,
        settings,
        {"name": "Ada Lovelace", "email": "ada@analytical.example", "phone": "+44 20 7946 0018"},
        {"name": "Bob Dijkstra", "email": "bob@shortest.example", "phone": "+31612345678"},
        {"name": "Carla Dijkstra-Smit", "email": "CARLA@Example.NL"},
        {"name": "Dee", "phone": "020-123 4567"},
    )
    return {"ada": a, "bob": b, "carla": c, "dee": d}


# ---------------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("term", "who"),
    [
        ("dijkstra", ["carla", "bob"]),  # newest first
        ("DIJKSTRA", ["carla", "bob"]),
        ("dIjKsTrA-s", ["carla"]),
        ("lovelace", ["ada"]),
        ("carla@example.nl", ["carla"]),  # stored upper-case
        ("analytical.EXAMPLE", ["ada"]),
        ("7946 00", ["ada"]),  # the phone as sent
        ("+3161234", ["bob"]),  # as sent and in E.164
        ("+4420794600", ["ada"]),  # only in E.164
        ("123 45", ["dee"]),
        ("example", ["carla", "bob", "ada"]),
        ("zzz", []),
        ("xample.nlx", []),
    ],
)
def test_finds_substrings_of_name_email_and_phone_in_any_case(
    api: TestClient, people: dict[str, str], term: str, who: list[str]
) -> None:
    assert found(api, term) == [people[name] for name in who]


@pytest.mark.parametrize(
    ("term", "who"),
    [
        ("a", ["carla", "bob", "ada"]),
        ("A", ["carla", "bob", "ada"]),
        ("ee", ["dee"]),
        ("DI", ["carla", "bob"]),
        ("+3", ["bob"]),
        ("+4", ["ada"]),
        ("q", []),
        ("-1", ["dee"]),
    ],
)
def test_terms_shorter_than_a_trigram_are_found_too(
    api: TestClient, people: dict[str, str], term: str, who: list[str]
) -> None:
    assert found(api, term) == [people[name] for name in who]


def test_never_matches_across_fields(api: TestClient, people: dict[str, str]) -> None:
    assert found(api, "Lovelace ada@") == []
    assert found(api, "lovelaceada") == []
    # Only a term holding the tab that separates the fields can, as it always could.
    assert found(api, "smit\tcarla@") == [people["carla"]]


# Names whose characters mean something to FTS5 (quotes, *, -, :, ^, parentheses, AND, OR, NOT,
# NEAR) or to LIKE (%, _, \): a term is always looked for as it is.
AWKWARD = [
    'Jo "The Hammer" Doe',
    "O'Brien AND NEAR(x y) OR NOT z",
    "star*bright -minus col:val ^caret",
    "100% _under_ back\\slash",
    "plain person",
]


@pytest.mark.parametrize(
    ("term", "matches"),
    [
        ('"the hammer"', [0]),
        ('"', [0]),
        ('mer" d', [0]),
        ('"the', [0]),
        ("o'brien", [1]),
        ("and near", [1]),
        ("near(x y)", [1]),
        ("(x", [1]),
        ("or not z", [1]),
        ("AND", [1]),
        ("NOT", [1]),
        ("star*", [2]),
        ("*bri", [2]),
        ("r*b", [2]),
        ("-minus", [2]),
        ("col:val", [2]),
        (":va", [2]),
        ("^caret", [2]),
        ("^", [2]),
        ("100%", [3]),
        ("% _", [3]),
        ("_under_", [3]),
        ("k\\s", [3]),
        ("\\", [3]),
        ("%", [3]),
        ("_", [3]),
        ("o*b", []),
        ("star bright", []),
        ('"plain"', []),
        ("plain OR hammer", []),
        ("NEAR(plain person)", []),
        ("pla*", []),
        ("*", [2]),
        ("NEAR", [1]),
    ],
)
def test_terms_with_query_syntax_are_searched_literally(
    api: TestClient, settings: Settings, term: str, matches: list[int]
) -> None:
    ids = spaced(api, settings, *({"name": name} for name in AWKWARD))
    assert sorted(found(api, term)) == sorted(ids[n] for n in matches)


@pytest.mark.parametrize("walk", [400, 1])
def test_agrees_with_a_plain_substring_test_on_random_leads(
    api: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch, walk: int
) -> None:
    """Whichever way a term is found (the index; a walk along the list, which a short walk
    length cuts short; every match), the answer is what ``term in text`` says. The letters are
    ASCII: SQLite lower-cases only those."""
    monkeypatch.setattr(leads, "SEARCH_COUNT_LIMIT", 5)
    monkeypatch.setattr(leads, "SEARCH_WALK_LENGTH", walk)
    rng = random.Random(2026)
    alphabet = 'abcAB .-@+1"*:()%_\\'
    texts: dict[str, str] = {}
    for n in range(24):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randrange(3, 12)))
        local = "".join(rng.choice("abcAB") for _ in range(2))
        email = f"{local}.{rng.choice('abc')}{n}@x{n % 3}.example"
        lead_id = create(api, name=name, email=email)
        set_lead_columns(settings, lead_id, created_at=START + timedelta(hours=n))
        texts[lead_id] = f"{name}\t{email}".lower()
    terms = {"x1.", "@x2", "ab", "a", "AB.", "b1"}
    for value in texts.values():
        for _ in range(4):
            start = rng.randrange(len(value))
            terms.add(value[start : start + rng.randrange(1, 7)])
    terms = {term for term in terms if term.strip() == term and term and "\t" not in term}
    for term in sorted(terms):
        expected = [lead_id for lead_id, value in reversed(texts.items()) if term.lower() in value]
        assert found(api, term) == expected, term
        assert found_paging(api, term.upper()) == expected, term


# ------------------------------------------------------------------------ keeping in step


def test_finds_the_new_name_and_email_after_an_update_and_not_the_old(
    api: TestClient, settings: Settings, people: dict[str, str]
) -> None:
    set_lead_columns(settings, people["bob"], name="Robert Tarjan", email="rt@strong.example")
    assert found(api, "dijkstra") == [people["carla"]]
    assert found(api, "shortest") == []
    assert found(api, "tarjan") == [people["bob"]]
    assert found(api, "strong.ex") == [people["bob"]]
    # A phone set where there was none, and one cleared.
    set_lead_columns(settings, people["carla"], phone="+31 20 555 0101")
    set_lead_columns(settings, people["ada"], phone=None, phone_e164=None)
    assert found(api, "555 01") == [people["carla"]]
    assert found(api, "7946") == []
    check_search_table(settings)


def test_an_update_of_other_fields_keeps_the_lead_findable(
    api: TestClient, settings: Settings, people: dict[str, str]
) -> None:
    response = api.patch("/api/leads", json={"id": people["bob"], "status": "won", "value": 9})
    assert response.status_code == 200, response.text
    set_lead_columns(settings, people["bob"], utm_source="google")
    assert found(api, "dijkstra") == [people["carla"], people["bob"]]
    check_search_table(settings)


def test_a_deleted_lead_is_not_found(
    api: TestClient, settings: Settings, people: dict[str, str]
) -> None:
    execute_sql(settings, "DELETE FROM leads WHERE id = :id", id=people["bob"])
    assert found(api, "dijkstra") == [people["carla"]]
    assert found(api, "shortest") == []
    check_search_table(settings)


def test_leads_inserted_by_raw_sql_are_found(api: TestClient, settings: Settings) -> None:
    workspace = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")
    if not workspace:
        create(api, name="Someone")
        workspace = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")
    execute_sql(
        settings,
        "INSERT INTO leads (id, workspace_id, name, email, status, source, created_at, updated_at)"
        " VALUES ('lead_raw1', :ws, 'Raw Insert', 'raw@sql.example', 'open', 'api', "
        ":now, :now), ('lead_raw2', :ws, 'Second Raw', NULL, 'open', 'api', :now, :now)",
        ws=workspace[0]["id"],
        now=datetime(2026, 2, 1),
    )
    assert sorted(found(api, "raw")) == ["lead_raw1", "lead_raw2"]
    assert found(api, "sql.exa") == ["lead_raw1"]
    if settings.database_url.startswith("sqlite"):
        seqs = fetch_rows(settings, "SELECT seq FROM leads WHERE id LIKE 'lead_raw%'")
        assert len({row["seq"] for row in seqs}) == 2
        assert all(row["seq"] is not None for row in seqs)
    check_search_table(settings)


def test_imported_leads_are_found(api: TestClient, settings: Settings) -> None:
    csv = (
        "Name,Email,Phone\n"
        "Grace Hopper,grace@navy.example,+1 202 555 0143\n"
        "Edsger Dijkstra,ewd@tue.example,\n"
    )
    response = api.post(
        "/api/leads/import", files={"file": ("leads.csv", csv.encode(), "text/csv")}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["created"] == 2
    hopper = found(api, "hopper")
    assert len(hopper) == 1
    assert found(api, "555 014") == hopper
    assert found(api, "navy.ex") == hopper
    assert len(found(api, "DIJKSTRA")) == 1
    check_search_table(settings)


def test_another_workspaces_leads_never_match(
    api: TestClient,
    client: TestClient,
    settings: Settings,
    people: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = {"X-API-KEY": make_key(settings, "other", "admin")}
    for n in range(6):
        response = client.post(
            "/api/leads",
            json={"name": f"Other Dijkstra {n}", "email": "ada@x.example"},
            headers=other,
        )
        assert response.status_code == 201, response.text
    monkeypatch.setattr(leads, "SEARCH_COUNT_LIMIT", 3)
    for term in ("dijkstra", "ada@", "di", "other"):
        ours = found(api, term)
        assert all(lead_id in people.values() for lead_id in ours), term
    assert listing(api, search="other")["meta"]["pagination"]["total"] == 0
    theirs = client.get(
        "/api/leads", params={"search": "dijkstra", "limit": 2}, headers=other
    ).json()
    assert theirs["meta"]["pagination"]["total"] == 3
    assert theirs["meta"]["pagination"]["totalCapped"] is True
    assert not set(people.values()) & {lead["id"] for lead in theirs["data"]}


# ---------------------------------------------------------------------- order and filters


def test_search_keeps_the_lists_sort_and_filters(
    api: TestClient, settings: Settings, people: dict[str, str]
) -> None:
    assert found(api, "example", sort="createdAt:asc") == [
        people["ada"],
        people["bob"],
        people["carla"],
    ]
    assert found(api, "example", sort="name:desc") == [
        people["carla"],
        people["bob"],
        people["ada"],
    ]
    api.patch("/api/leads", json={"id": people["bob"], "status": "won", "value": 10})
    assert found(api, "dijkstra", status="won") == [people["bob"]]
    assert found(api, "dijkstra", status="open") == [people["carla"]]
    assert found(api, "i", status="open") == [people["carla"], people["ada"]]
    assert found(api, "example", **{"createdAt[gte]": "2026-01-02"}) == [
        people["carla"],
        people["bob"],
    ]


# ------------------------------------------------------------------------ capped counting


@pytest.fixture
def many(api: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Twelve leads named Jansen (and two others), newest first, with the cap at five."""
    monkeypatch.setattr(leads, "SEARCH_COUNT_LIMIT", 5)
    bodies: list[dict[str, Any]] = [{"name": f"Jansen {n:02d}"} for n in range(12)]
    bodies[3:3] = [{"name": "Someone Else"}]
    bodies.append({"name": "Nobody"})
    ids = spaced(api, settings, *bodies)
    return [
        lead_id
        for lead_id, body in reversed(list(zip(ids, bodies, strict=True)))
        if "Jansen" in body["name"]
    ]


@pytest.mark.parametrize("term", ["jansen", "ja", "n 0"])
def test_counts_up_to_the_cap_and_pages_on_exactly(
    api: TestClient, many: list[str], term: str
) -> None:
    expected = [lead_id for lead_id in many if term != "n 0" or many.index(lead_id) >= 2]
    first = listing(api, search=term, limit=3)
    assert [lead["id"] for lead in first["data"]] == expected[:3]
    assert first["meta"]["pagination"] == {
        "limit": 3,
        "page": 1,
        "totalPages": 2,
        "total": 5,
        "hasMore": True,
        "totalCapped": True,
    }
    # Paging on while hasMore is true reads every match, once, in order.
    seen: list[str] = []
    page = 1
    while True:
        body = listing(api, search=term, limit=3, page=page)
        seen += [lead["id"] for lead in body["data"]]
        if not body["meta"]["pagination"]["hasMore"]:
            break
        page += 1
    assert seen == expected
    last = body["meta"]["pagination"]
    assert last["total"] == len(expected)
    assert "totalCapped" not in last


def test_a_page_past_the_cap_counts_one_past_itself(api: TestClient, many: list[str]) -> None:
    # Page 3 of 2 ends at the sixth match: the count goes to seven, so hasMore stays exact.
    body = listing(api, search="jansen", limit=2, page=3)
    assert [lead["id"] for lead in body["data"]] == many[4:6]
    assert body["meta"]["pagination"] == {
        "limit": 2,
        "page": 3,
        "totalPages": 4,
        "total": 7,
        "hasMore": True,
        "totalCapped": True,
    }
    beyond = listing(api, search="jansen", limit=5, page=9)
    assert beyond["data"] == []
    assert beyond["meta"]["pagination"]["total"] == 12
    assert beyond["meta"]["pagination"]["hasMore"] is False


@pytest.mark.parametrize(("term", "total"), [("jansen 1", 2), ("1", 3)])
def test_fewer_matches_than_the_cap_are_counted_exactly(
    api: TestClient, many: list[str], term: str, total: int
) -> None:
    body = listing(api, search=term, limit=1)
    assert body["meta"]["pagination"] == {
        "limit": 1,
        "page": 1,
        "totalPages": total,
        "total": total,
        "hasMore": True,
    }


def test_lists_without_search_never_say_capped(api: TestClient, many: list[str]) -> None:
    body = listing(api, limit=2)
    assert body["meta"]["pagination"]["total"] == 14
    assert "totalCapped" not in body["meta"]["pagination"]


# ------------------------------------------------------------------------- how it is read


def _repository_call(settings: Settings, work: Any) -> Any:
    async def run(session: AsyncSession) -> Any:
        workspace = await workspaces.require(session, "acme")
        return await work(LeadRepository(session), workspace.id)

    return run_in_transaction(settings, run)


@pytest.mark.parametrize(
    "sort",
    [
        [SortKey("name", descending=False)],
        [SortKey("created_at", descending=True)],
        [SortKey("created_at", descending=False)],
        [SortKey("status", descending=False), SortKey("email", descending=True)],
    ],
)
def test_the_index_and_the_walks_give_the_same_page(
    api: TestClient, settings: Settings, people: dict[str, str], sort: list[SortKey]
) -> None:
    async def ways(repo: LeadRepository, workspace_id: str) -> list[list[str] | None]:
        looked_up = await repo.look_up(workspace_id, [], "xampl", sort, 2, 1, at_most=None)
        assert looked_up.matches == 3
        walked = await repo.page(workspace_id, [], "xampl", sort, 2, 1)
        within = await repo.walk(workspace_id, [], "xampl", sort, 2, 1, within=4)
        return [[lead.id for lead in found] for found in (looked_up.leads, walked, within or [])]

    looked_up, walked, within = _repository_call(settings, ways)
    assert looked_up == walked == within
    assert len(looked_up) == 2


def test_a_walk_cut_short_says_so(
    api: TestClient, settings: Settings, people: dict[str, str]
) -> None:
    """Dee, the newest lead, has no "xampl": a walk of one lead cannot fill a page of one."""
    newest = [SortKey("created_at", descending=True)]

    async def walks(repo: LeadRepository, workspace_id: str) -> list[list[str] | None]:
        found = []
        for within in (1, 2):
            walked = await repo.walk(workspace_id, [], "xampl", newest, 1, 0, within=within)
            found.append(None if walked is None else [lead.id for lead in walked])
        return found

    assert _repository_call(settings, walks) == [None, [people["carla"]]]


def test_matches_far_down_the_list_are_read_from_the_index(
    api: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More matches than the cap, but none among the newest leads: the walk gives up and every
    match is read through the index, so the total is exact."""
    monkeypatch.setattr(leads, "SEARCH_COUNT_LIMIT", 3)
    monkeypatch.setattr(leads, "SEARCH_WALK_LENGTH", 2)
    old = spaced(api, settings, *({"name": f"Old Timer {n}"} for n in range(5)))
    spaced(api, settings, *({"name": f"Newcomer {n}"} for n in range(5)))
    for n, lead_id in enumerate(old):  # the oldest of all
        set_lead_columns(settings, lead_id, created_at=START - timedelta(days=10 - n))
    body = listing(api, search="timer", limit=2)
    assert [lead["id"] for lead in body["data"]] == [old[4], old[3]]
    assert body["meta"]["pagination"] == {
        "limit": 2,
        "page": 1,
        "totalPages": 3,
        "total": 5,
        "hasMore": True,
    }
    assert found_paging(api, "timer") == list(reversed(old))


def test_the_index_reads_no_further_than_asked(
    api: TestClient, settings: Settings, people: dict[str, str]
) -> None:
    async def capped(repo: LeadRepository, workspace_id: str) -> int:
        found = await repo.look_up(
            workspace_id, [], "example", [SortKey("created_at", True)], 50, 0, at_most=2
        )
        return found.matches

    assert _repository_call(settings, capped) == 2


def test_only_terms_of_a_trigram_or_more_are_looked_up(settings: Settings, admin_key: str) -> None:
    async def answers(repo: LeadRepository, _: str) -> dict[str, bool]:
        return {term: repo.can_look_up(term) for term in ("ab", "abc", "a\tb", "é€x")}

    got = _repository_call(settings, answers)
    assert got["ab"] is False
    assert got["abc"] is True
    assert got["é€x"] is True
    # SQLite's index keeps fields apart: a term with their separator is tested lead by lead.
    assert got["a\tb"] is settings.database_url.startswith("postgresql")


@pytest.fixture
def crowd(settings: Settings, people: dict[str, str]) -> None:
    """Twenty thousand more leads in the workspace, and fresh statistics: enough for
    PostgreSQL's planner to choose as it would in a large workspace."""
    workspace = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")[0]["id"]
    execute_sql(
        settings,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
        "INSERT INTO leads (id, workspace_id, name, email, status, source, created_at, "
        "updated_at) SELECT 'lead_crowd' || i, :ws, 'Crowd ' || i, 'c' || i || '@crowd.example',"
        " 'open', 'api', :t, :t FROM n",
        ws=workspace,
        t=datetime(2025, 6, 1),
    )
    execute_sql(settings, "ANALYZE")


def _plans(settings: Settings, read: Any) -> list[str]:
    """The plan of each statement ``read(repo, workspace_id)`` runs."""

    async def run(session: AsyncSession) -> list[str]:
        workspace = await workspaces.require(session, "acme")
        statements: list[tuple[str, Any]] = []

        def capture(*args: Any) -> None:
            statements.append((args[2], args[3]))

        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", capture)
        try:
            await read(LeadRepository(session), workspace.id)
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        connection = await session.connection()
        sqlite = engine.dialect.name == "sqlite"
        plans = []
        for statement, parameters in statements:
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = (await connection.exec_driver_sql(prefix + statement, parameters)).all()
            plans.append("\n".join(str(row[-1] if sqlite else row[0]) for row in rows))
        return plans

    return run_in_transaction(settings, run)


NEWEST = [SortKey("created_at", descending=True)]


def test_a_lookup_reads_the_search_index(settings: Settings, crowd: None) -> None:
    async def look_up(repo: LeadRepository, workspace_id: str) -> None:
        await repo.look_up(workspace_id, [], "dijkstra", NEWEST, 50, 0, at_most=1000)

    (plan,) = _plans(settings, look_up)
    if settings.database_url.startswith("sqlite"):
        # The FTS5 table first, then each lead by its seq: never the other way round.
        table_first = plan.index(f"SCAN {SEARCH_TABLE} VIRTUAL TABLE")
        assert table_first < plan.index("SEARCH leads USING INDEX uq_leads_seq (seq=?)"), plan
    else:
        assert f"Bitmap Index Scan on {SEARCH_INDEX}" in plan, plan


@pytest.mark.parametrize("term", ["dijkstra", "di"])
def test_a_walk_reads_the_lists_order_and_never_the_search_index(
    settings: Settings, crowd: None, term: str
) -> None:
    async def walk(repo: LeadRepository, workspace_id: str) -> None:
        await repo.page(workspace_id, [], term, NEWEST, 50, 0)
        await repo.count(workspace_id, [], term, at_most=1000)

    page, count = _plans(settings, walk)
    for plan in (page, count):
        assert SEARCH_TABLE not in plan, plan
        assert SEARCH_INDEX not in plan, plan
    if settings.database_url.startswith("sqlite"):
        assert "USING INDEX ix_leads_ws_created" in page, page
        assert "USING INDEX ix_leads_ws_created" in count, count
    else:
        assert "Index Scan Backward using ix_leads_ws_created" in page, page
