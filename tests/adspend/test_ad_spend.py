"""Ad spend: JSON and CSV import (upsert, all or nothing), the report and its attribution."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadline import cli
from leadline.adspend import service as adspend_service
from leadline.config import Settings, get_settings
from leadline.models import AdSpend, Workspace
from leadline.surfaces.octanist import report_schemas as rs
from tests.fixtures.factories import make_key, set_lead_columns
from tests.fixtures.octanist import error_of

# ------------------------------------------------------------------------------- helpers


def spend_rows(settings: Settings, workspace: str = "acme") -> list[dict[str, Any]]:
    engine = create_engine(settings.sync_url)
    try:
        with engine.connect() as conn:
            result = conn.execute(
                select(
                    AdSpend.day,
                    AdSpend.platform,
                    AdSpend.campaign_id,
                    AdSpend.campaign_name,
                    AdSpend.spend,
                    AdSpend.currency,
                    AdSpend.clicks,
                    AdSpend.impressions,
                )
                .join(Workspace, Workspace.id == AdSpend.workspace_id)
                .where(Workspace.slug == workspace)
                .order_by(AdSpend.day, AdSpend.platform, AdSpend.campaign_id)
            )
            return [dict(row._mapping) for row in result]
    finally:
        engine.dispose()


def spend_count(settings: Settings) -> int:
    engine = create_engine(settings.sync_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(AdSpend)).scalar_one())
    finally:
        engine.dispose()


def lead_on(
    api: TestClient,
    settings: Settings,
    created_at: datetime,
    status: str | None = None,
    **fields: Any,
) -> str:
    """A lead created at ``created_at``, optionally moved to ``status`` (with value/currency)."""
    update_fields = {k: fields.pop(k) for k in ("value", "currency") if k in fields}
    response = api.post("/api/leads", json={"name": "Lead", **fields})
    assert response.status_code == 201, response.text
    lead_id: str = response.json()["data"]["id"]
    if status:
        moved = api.patch("/api/leads", json={"id": lead_id, "status": status, **update_fields})
        assert moved.status_code == 200, moved.text
    set_lead_columns(settings, lead_id, created_at=created_at)
    return lead_id


def import_rows(api: TestClient, rows: list[dict[str, Any]], **headers: str) -> Any:
    response = api.post("/api/ad-spend/import", json={"rows": rows}, headers=headers)
    if response.status_code == 200:
        rs.AdSpendImportEnvelope.model_validate(response.json())  # as the OpenAPI says
    return response


def report(api: TestClient, **params: Any) -> dict[str, Any]:
    query = {"startDate": "2026-03-10", "endDate": "2026-03-12", **params}
    response = api.get("/api/ad-spend", params=query)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    assert payload["success"] is True
    rs.AdSpendListEnvelope.model_validate(payload)  # the rows are exactly as documented
    return payload


def at(day: int, hour: int = 12, *rest: int) -> datetime:
    return datetime(2026, 3, day, hour, *rest, tzinfo=UTC)


SPEND = [
    {
        "date": "2026-03-10",
        "platform": "googleads",
        "campaignId": "111",
        "campaignName": "Brand",
        "spend": 100,
        "currency": "EUR",
        "clicks": 50,
        "impressions": 1000,
    },
    {
        "date": "2026-03-10",
        "platform": "googleads",
        "campaignId": "222",
        "campaignName": "Generic",
        "spend": "50.50",
        "currency": "EUR",
        "clicks": 20,
        "impressions": 800,
    },
    {
        "date": "2026-03-10",
        "platform": "meta",
        "campaignId": "m1",
        "campaignName": "Spring",
        "spend": 30,
        "currency": "EUR",
        "clicks": 10,
        "impressions": 500,
    },
    {
        "date": "2026-03-11",
        "platform": "googleads",
        "campaignId": 111,
        "campaignName": "Brand 2026",
        "spend": 80.0,
        "currency": "eur",
        "clicks": "40",
        "impressions": "900",
    },
    # Meta spend without a campaign, billed in dollars.
    {
        "date": "2026-03-11",
        "platform": "meta",
        "spend": "20",
        "currency": "USD",
        "clicks": 5,
        "impressions": 100,
    },
]


@pytest.fixture
def scenario(api: TestClient, settings: Settings) -> None:
    """Five spend rows over two days and ten leads, each placed to test one attribution rule."""
    assert import_rows(api, SPEND).status_code == 200
    # Google Ads campaign id 111 on the 10th; won 500 EUR.
    lead_on(api, settings, at(10), "won", gclid="g1", googleAdsCampaignId="111", value=500)
    # utm_campaign equal to a campaign id.
    lead_on(api, settings, at(10), "qualified", gclid="g2", utm_campaign="222")
    # utm_campaign equal to a campaign name.
    lead_on(api, settings, at(10), None, gclid="g3", utm_campaign="Generic")
    # Meta by name; won 90 EUR.
    lead_on(api, settings, at(10), "won", fbc="fb.1", utm_campaign="Spring", value=90)
    # The last microsecond of the 10th (UTC) still belongs to the 10th.
    lead_on(api, settings, at(10, 23, 59, 59, 999999), None, gclid="g4", googleAdsCampaignId="111")
    # The 11th: Google 111, lost.
    lead_on(api, settings, at(11, 0), "lost", gclid="g5", googleAdsCampaignId="111")
    # Meta on the 11th without a matching campaign: the campaign-less (USD) row.
    lead_on(api, settings, at(11), "won", fbc="fb.2", value=40, currency="USD")
    lead_on(api, settings, at(11), "won", fbc="fb.3", utm_campaign="nope", value=10)  # EUR value
    # Not attributed: no spend on the 12th; no click id; a Google lead on a Meta-only campaign.
    lead_on(api, settings, at(12), "won", gclid="g6", googleAdsCampaignId="111", value=1)
    lead_on(api, settings, at(10), "won", utm_campaign="Brand", value=1)
    lead_on(api, settings, at(10), "won", gclid="g7", utm_campaign="Spring", value=1)


METRIC_KEYS = {
    "currency",
    "spend",
    "clicks",
    "impressions",
    "leads",
    "qualified",
    "won",
    "wonValue",
    "costPerLead",
    "roas",
}


# ------------------------------------------------------------------------------- report


@pytest.mark.usefixtures("scenario")
def test_group_by_date(api: TestClient) -> None:
    payload = report(api)

    assert payload["data"] == [
        {
            "date": "2026-03-10",
            "currency": "EUR",
            "spend": 180.5,
            "clicks": 80,
            "impressions": 2300,
            "leads": 5,
            "qualified": 3,
            "won": 2,
            "wonValue": 590,
            "costPerLead": 36.1,
            "roas": 3.2687,  # 590 / 180.5
        },
        {
            "date": "2026-03-11",
            "currency": "EUR",
            "spend": 80,
            "clicks": 40,
            "impressions": 900,
            "leads": 1,
            "qualified": 0,
            "won": 0,
            "wonValue": 0,
            "costPerLead": 80,
            "roas": 0,
        },
        {
            "date": "2026-03-11",
            "currency": "USD",
            "spend": 20,
            "clicks": 5,
            "impressions": 100,
            "leads": 2,
            "qualified": 2,
            "won": 2,
            "wonValue": 40,  # the 10 EUR won lead is counted, its value is not
            "costPerLead": 10,
            "roas": 2,
        },
    ]
    assert payload["meta"]["pagination"] == {
        "limit": 100,
        "page": 1,
        "totalPages": 1,
        "total": 3,
        "hasMore": False,
    }
    # groupBy=date is the default, and POST with a JSON body gives the same rows.
    assert report(api, groupBy="date")["data"] == payload["data"]
    posted = api.post("/api/ad-spend", json={"startDate": "2026-03-10", "endDate": "2026-03-12"})
    assert posted.status_code == 200, posted.text
    assert posted.json()["data"] == payload["data"]
    from_query = api.post("/api/ad-spend?startDate=2026-03-10&endDate=2026-03-12")
    assert from_query.json()["data"] == payload["data"]


@pytest.mark.usefixtures("scenario")
def test_group_by_platform(api: TestClient) -> None:
    data = report(api, groupBy="platform")["data"]

    assert data == [
        {
            "platform": "googleads",
            "currency": "EUR",
            "spend": 230.5,
            "clicks": 110,
            "impressions": 2700,
            "leads": 5,
            "qualified": 2,
            "won": 1,
            "wonValue": 500,
            "costPerLead": 46.1,
            "roas": 2.1692,  # 500 / 230.5
        },
        {
            "platform": "meta",
            "currency": "EUR",
            "spend": 30,
            "clicks": 10,
            "impressions": 500,
            "leads": 1,
            "qualified": 1,
            "won": 1,
            "wonValue": 90,
            "costPerLead": 30,
            "roas": 3,
        },
        {
            "platform": "meta",
            "currency": "USD",
            "spend": 20,
            "clicks": 5,
            "impressions": 100,
            "leads": 2,
            "qualified": 2,
            "won": 2,
            "wonValue": 40,
            "costPerLead": 10,
            "roas": 2,
        },
    ]


@pytest.mark.usefixtures("scenario")
def test_group_by_campaign(api: TestClient) -> None:
    payload = report(api, groupBy="campaign")
    data = payload["data"]

    assert [(row["platform"], row["campaignId"], row["campaignName"]) for row in data] == [
        ("googleads", "111", "Brand 2026"),  # the name of the latest day
        ("googleads", "222", "Generic"),
        ("meta", "", None),
        ("meta", "m1", "Spring"),
    ]
    assert data[0] == {
        "campaignId": "111",
        "campaignName": "Brand 2026",
        "platform": "googleads",
        "currency": "EUR",
        "spend": 180,
        "clicks": 90,
        "impressions": 1900,
        "leads": 3,
        "qualified": 1,
        "won": 1,
        "wonValue": 500,
        "costPerLead": 60,
        "roas": 2.7778,  # 500 / 180
    }
    assert {
        k: data[1][k] for k in ("spend", "leads", "qualified", "won", "costPerLead", "roas")
    } == {
        "spend": 50.5,
        "leads": 2,
        "qualified": 1,
        "won": 0,
        "costPerLead": 25.25,
        "roas": 0,
    }
    assert {k: data[2][k] for k in ("currency", "spend", "leads", "won", "wonValue")} == {
        "currency": "USD",
        "spend": 20,
        "leads": 2,
        "won": 2,
        "wonValue": 40,
    }
    assert {k: data[3][k] for k in ("spend", "leads", "qualified", "won", "wonValue", "roas")} == {
        "spend": 30,
        "leads": 1,
        "qualified": 1,
        "won": 1,
        "wonValue": 90,
        "roas": 3,
    }
    assert all(set(row) == METRIC_KEYS | {"campaignId", "campaignName", "platform"} for row in data)
    assert payload["meta"]["pagination"]["total"] == 4


@pytest.mark.usefixtures("scenario")
def test_pagination_and_platform_filter(api: TestClient) -> None:
    first = report(api, groupBy="campaign", limit=3)
    assert len(first["data"]) == 3
    assert first["meta"]["pagination"] == {
        "limit": 3,
        "page": 1,
        "totalPages": 2,
        "total": 4,
        "hasMore": True,
    }
    second = report(api, groupBy="campaign", limit=3, page=2)
    assert [row["campaignId"] for row in second["data"]] == ["m1"]
    assert second["meta"]["pagination"]["hasMore"] is False
    assert report(api, groupBy="campaign", limit=3, page=3)["data"] == []

    meta = report(api, platform="meta")["data"]
    assert [(r["date"], r["currency"], r["spend"], r["leads"]) for r in meta] == [
        ("2026-03-10", "EUR", 30, 1),
        ("2026-03-11", "USD", 20, 2),
    ]
    # Aliases of a platform name are accepted.
    assert report(api, platform="Facebook")["data"] == meta

    one_day = report(api, startDate="2026-03-11", endDate="2026-03-11", groupBy="platform")
    assert [(r["platform"], r["currency"], r["spend"]) for r in one_day["data"]] == [
        ("googleads", "EUR", 80),
        ("meta", "USD", 20),
    ]


def test_zero_spend_and_no_leads_give_nulls(api: TestClient) -> None:
    row = {"date": "2026-03-10", "platform": "tiktok", "campaignId": "t", "spend": 0}
    assert import_rows(api, [row]).status_code == 200

    data = report(api)["data"]

    assert data == [
        {
            "date": "2026-03-10",
            "currency": "EUR",  # the workspace currency when a row has none
            "spend": 0,
            "clicks": 0,
            "impressions": 0,
            "leads": 0,
            "qualified": 0,
            "won": 0,
            "wonValue": 0,
            "costPerLead": None,
            "roas": None,
        }
    ]


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"startDate": None}, "VALIDATION_ERROR", "startDate"),
        ({"endDate": None}, "VALIDATION_ERROR", "endDate"),
        ({"startDate": "2026-02-30"}, "INVALID_DATE", "startDate"),
        ({"endDate": "12/03/2026"}, "INVALID_DATE", "endDate"),
        ({"startDate": "2026-03-12", "endDate": "2026-03-10"}, "VALIDATION_ERROR", "endDate"),
        ({"groupBy": "week"}, "VALIDATION_ERROR", "groupBy"),
        ({"platform": "myspace"}, "VALIDATION_ERROR", "platform"),
        ({"limit": 501}, "VALIDATION_ERROR", "limit"),
        ({"limit": 0}, "VALIDATION_ERROR", "limit"),
        ({"limit": "ten"}, "VALIDATION_ERROR", "limit"),
        ({"page": 0}, "VALIDATION_ERROR", "page"),
    ],
)
def test_bad_report_parameters(
    api: TestClient, params: dict[str, Any], code: str, field: str
) -> None:
    query = {"startDate": "2026-03-10", "endDate": "2026-03-12", **params}
    query = {k: v for k, v in query.items() if v is not None}
    for response in (
        api.get("/api/ad-spend", params=query),
        api.post("/api/ad-spend", json=query),
    ):
        error = error_of(response, 400, code)
        assert field in error["message"]


def test_largest_page_is_500(api: TestClient) -> None:
    assert report(api, limit=500)["meta"]["pagination"]["limit"] == 500


# ------------------------------------------------------------------------------- import


def test_reimport_replaces_and_never_doubles(api: TestClient, settings: Settings) -> None:
    first = import_rows(api, SPEND)
    assert first.status_code == 200, first.text
    assert first.json()["data"] == {"rows": 5, "inserted": 5, "replaced": 0}

    changed = [{**SPEND[0], "spend": "120.25", "clicks": 60, "campaignName": "Brand!"}, SPEND[2]]
    again = import_rows(api, changed)
    assert again.json()["data"] == {"rows": 2, "inserted": 0, "replaced": 2}

    stored = spend_rows(settings)
    assert len(stored) == 5
    brand = next(r for r in stored if str(r["day"]) == "2026-03-10" and r["campaign_id"] == "111")
    assert brand["spend"] == Decimal("120.25")  # exact decimals on both databases
    assert (brand["clicks"], brand["campaign_name"]) == (60, "Brand!")
    assert report(api, groupBy="platform")["data"][0]["spend"] == 250.75  # 120.25 + 50.5 + 80


def test_a_repeated_key_inside_one_import_keeps_the_last(
    api: TestClient, settings: Settings
) -> None:
    rows = [
        {"date": "2026-03-10", "platform": "meta", "campaignId": "a", "spend": 1},
        {"date": "03/10/2026", "platform": "Facebook", "campaignId": "a", "spend": 2},
        {"date": "2026-03-10T09:30:00-05:00", "platform": "meta", "campaignId": "b", "spend": 3},
    ]
    response = import_rows(api, rows)

    assert response.json()["data"] == {"rows": 3, "inserted": 2, "replaced": 1}
    stored = spend_rows(settings)
    assert [(str(r["day"]), r["campaign_id"], r["spend"]) for r in stored] == [
        ("2026-03-10", "a", Decimal(2)),
        ("2026-03-10", "b", Decimal(3)),  # the day written in the date-time, not shifted to UTC
    ]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"date": "2026-02-30"}, "rows.1.date"),
        ({"date": "yesterday"}, "rows.1.date"),
        ({"spend": -5}, "rows.1.spend"),
        ({"spend": "12,50 EUR"}, "rows.1.spend"),
        ({"spend": "NaN"}, "rows.1.spend"),
        ({"currency": "EURO"}, "rows.1.currency"),
        ({"currency": "€"}, "rows.1.currency"),
        ({"platform": ""}, "rows.1.platform"),
        ({"platform": "myspace"}, "rows.1.platform"),
        ({"clicks": -1}, "rows.1.clicks"),
        ({"impressions": "1.5k"}, "rows.1.impressions"),
        ({"campaignId": "a\x00b"}, "rows.1.campaignId"),
    ],
)
def test_one_bad_row_writes_nothing(
    api: TestClient, settings: Settings, bad: dict[str, Any], field: str
) -> None:
    good = {"date": "2026-03-10", "platform": "googleads", "campaignId": "1", "spend": 5}
    rows = [good, {**good, "campaignId": "2", **bad}, {**good, "campaignId": "3"}]

    error = error_of(import_rows(api, rows), 400, "VALIDATION_ERROR")

    assert field in error["message"]
    assert error["details"]["field"] == field
    assert spend_count(settings) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"rows": []},
        {},
        {"rows": [{"date": "2026-03-10", "spend": 5}]},  # no platform
        {"rows": [{"date": "2026-03-10", "platform": "meta"}]},  # no spend
        {"rows": [{"date": "2026-03-10", "platform": "meta", "spend": True}]},
    ],
)
def test_malformed_import_bodies(api: TestClient, settings: Settings, body: Any) -> None:
    error_of(api.post("/api/ad-spend/import", json=body), 400, "VALIDATION_ERROR")
    assert spend_count(settings) == 0


def test_roles(client: TestClient, settings: Settings) -> None:
    integration = make_key(settings, "acme", "integration")
    marketing = make_key(settings, "acme", "marketing")
    query = {"startDate": "2026-03-10", "endDate": "2026-03-12"}
    body = {"rows": SPEND}

    for response in (
        client.get("/api/ad-spend", params=query, headers={"X-API-KEY": integration}),
        client.post("/api/ad-spend", json=query, headers={"X-API-KEY": integration}),
        client.post("/api/ad-spend/import", json=body, headers={"X-API-KEY": integration}),
        client.post("/api/ad-spend/import", json=body, headers={"X-API-KEY": marketing}),
    ):
        error_of(response, 403, "FORBIDDEN")
    assert spend_count(settings) == 0

    readable = client.get("/api/ad-spend", params=query, headers={"X-API-KEY": marketing})
    assert readable.status_code == 200
    error_of(client.get("/api/ad-spend", params=query), 401, "UNAUTHORIZED")


@pytest.mark.usefixtures("scenario")
def test_another_workspace_sees_none_of_acme(api: TestClient, settings: Settings) -> None:
    other = make_key(settings, "globex", "admin")
    headers = {"X-API-KEY": other}
    query = {"startDate": "2026-03-10", "endDate": "2026-03-12"}

    assert api.get("/api/ad-spend", params=query, headers=headers).json()["data"] == []

    # The same day, platform and campaign in another workspace is a new row, not acme's.
    imported = import_rows(api, [{**SPEND[0], "spend": 7}], **headers)
    assert imported.json()["data"] == {"rows": 1, "inserted": 1, "replaced": 0}
    theirs = api.get("/api/ad-spend", params=query, headers=headers).json()["data"]
    assert [(r["date"], r["spend"], r["leads"]) for r in theirs] == [("2026-03-10", 7, 0)]
    assert report(api)["data"][0]["spend"] == 180.5
    assert len(spend_rows(settings, "acme")) == 5


# ---------------------------------------------------------------------------------- CLI


@pytest.fixture
def run_cli(settings: Settings, admin_key: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Invoke ``leadline`` against the test database (workspace acme exists)."""
    monkeypatch.setenv("LEADLINE_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(cli.app, list(args))

    yield invoke
    get_settings.cache_clear()


CSV = """\
date,platform,campaign_id,campaign_name,spend,currency,clicks,impressions,ignored
2026-03-10,googleads,111,Brand,100.00,EUR,50,1000,x
03/10/2026,meta,m1,Spring,30,EUR,10,500,x
2026-03-11,Google Ads,111,"Brand, 2026",80,EUR,40,900,x

2026-03-11,meta,,,20,USD,5,100,x
"""


def test_cli_import_and_reimport(
    api: TestClient, settings: Settings, run_cli: Any, tmp_path: Path
) -> None:
    path = tmp_path / "spend.csv"
    path.write_text(CSV, encoding="utf-8")

    result = run_cli("ad-spend", "import", str(path), "--workspace", "acme")
    assert result.exit_code == 0, result.output
    assert "4 inserted, 0 replaced" in result.stdout
    assert "4 rows read" in result.stderr

    again = run_cli("ad-spend", "import", str(path), "--workspace", "acme")
    assert again.exit_code == 0, again.output
    assert "0 inserted, 4 replaced" in again.stdout

    stored = spend_rows(settings)
    assert [(str(r["day"]), r["platform"], r["campaign_id"], r["spend"]) for r in stored] == [
        ("2026-03-10", "googleads", "111", Decimal(100)),
        ("2026-03-10", "meta", "m1", Decimal(30)),
        ("2026-03-11", "googleads", "111", Decimal(80)),
        ("2026-03-11", "meta", "", Decimal(20)),
    ]
    assert stored[2]["campaign_name"] == "Brand, 2026"
    assert [r["spend"] for r in report(api)["data"]] == [130, 80, 20]


def test_cli_accepts_camel_case_headers_and_a_bom(
    settings: Settings, run_cli: Any, tmp_path: Path
) -> None:
    path = tmp_path / "spend.csv"
    path.write_text(
        "\ufeffDate,Platform,campaignId,campaignName,Spend,Currency,Clicks,Impressions\n"
        "2026-03-10,tiktok,c1,Launch,12.3456,usd,1,2\n",
        encoding="utf-8",
    )

    result = run_cli("ad-spend", "import", str(path), "--workspace", "acme")

    assert result.exit_code == 0, result.output
    stored = spend_rows(settings)
    assert [(r["platform"], r["campaign_id"], r["spend"], r["currency"]) for r in stored] == [
        ("tiktok", "c1", Decimal("12.3456"), "USD")
    ]


def test_cli_bad_row_names_line_and_column_and_writes_nothing(
    settings: Settings, run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches, so rows before the bad one have already been sent to the database.
    monkeypatch.setattr(adspend_service, "BATCH_SIZE", 2)
    monkeypatch.setattr(adspend_service, "PROGRESS_EVERY", 2)
    lines = ["date,platform,campaign_id,spend"]
    lines += [f"2026-03-{day:02d},meta,c,{day}" for day in range(1, 6)]
    lines.append("2026-03-06,meta,c,-4")
    path = tmp_path / "spend.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = run_cli("ad-spend", "import", str(path), "--workspace", "acme")

    assert result.exit_code != 0
    assert "line 7, column 'spend'" in result.stderr
    assert "negative" in result.stderr
    assert "2 rows read" in result.stderr  # progress went to stderr while streaming
    assert spend_count(settings) == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("date,platform,spend\n2026-03-10,meta,abc\n", "line 2, column 'spend'"),
        ("date,platform,spend\n2026-13-10,meta,1\n", "line 2, column 'date'"),
        ("date,platform,spend,currency\n2026-03-10,meta,1,dollars\n", "column 'currency'"),
        ("date,platform,spend\n2026-03-10,,1\n", "line 2, column 'platform'"),
        ("date,spend\n2026-03-10,1\n", "missing column(s): platform"),
        ("date,platform,spend\n", "no rows"),
        ("", "empty"),
    ],
)
def test_cli_refusals(
    settings: Settings, run_cli: Any, tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "spend.csv"
    path.write_text(content, encoding="utf-8")

    result = run_cli("ad-spend", "import", str(path), "--workspace", "acme")

    assert result.exit_code == 1
    assert expected in result.stderr
    assert spend_count(settings) == 0


def test_cli_unknown_workspace_and_missing_file(
    settings: Settings, run_cli: Any, tmp_path: Path
) -> None:
    path = tmp_path / "spend.csv"
    path.write_text("date,platform,spend\n2026-03-10,meta,1\n", encoding="utf-8")

    result = run_cli("ad-spend", "import", str(path))  # workspace "default" does not exist
    assert result.exit_code == 1
    assert "no workspace 'default'" in result.stderr

    missing = run_cli("ad-spend", "import", str(tmp_path / "nope.csv"), "--workspace", "acme")
    assert missing.exit_code != 0
    assert spend_count(settings) == 0
