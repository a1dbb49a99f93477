"""Octanist stats and ad-spend routes: parse requests, call the services, render Octanist JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import Response

from leadline.adspend import service as adspend
from leadline.adspend.schemas import GroupBy, SpendPage, SpendQuery
from leadline.auth.roles import Permission
from leadline.kit.reporting import DAY_SCHEMA
from leadline.kit.time import iso_millis
from leadline.leads import stats as lead_stats
from leadline.surfaces.octanist import report_schemas as rs
from leadline.surfaces.octanist import schemas as s
from leadline.surfaces.octanist.envelope import number, optional_number, pagination, success
from leadline.surfaces.octanist.router import ERROR_RESPONSES, Caller, Reader, Session

router = APIRouter()

# Domain field names of an imported row -> the names this API uses for them.
_IMPORT_NAMES = {"campaign_id": "campaignId", "campaign_name": "campaignName"}


# ---------------------------------------------------------------------------------- stats


def render_stats(result: lead_stats.LeadStats) -> dict[str, Any]:
    return {
        "usage": {
            "leadsUsed": result.leads_used,
            "leadsLimit": result.leads_limit,
            "lockedLeads": result.locked_leads,
            "periodStart": iso_millis(result.period.start),
            "periodEnd": iso_millis(result.period.end),
        },
        "leads": {
            "total": result.total,
            "byStatus": result.by_status,
            "bySource": result.by_source,
        },
        "conversion": {
            "qualified": result.qualified,
            "qualificationRate": number(result.qualification_rate),
            "winRate": number(result.win_rate),
            "averageValue": number(result.average_value),
            "totalValue": number(result.total_value),
            "currency": result.currency,
            "valueByCurrency": {
                code: number(amount) for code, amount in result.value_by_currency.items()
            },
        },
    }


@router.post("/stats", response_model=rs.StatsEnvelope, responses=ERROR_RESPONSES, tags=["stats"])
async def stats(
    request: Request, session: Session, caller: Reader, body: Annotated[s.StatsRequest, Body()]
) -> Response:
    """Lead usage, pipeline and conversion figures for the current or previous calendar month
    (UTC), or a custom date range. A JSON body is required; ``{}`` means the current month."""
    caller.require(Permission.STATS_READ)
    result = await lead_stats.lead_stats(
        session,
        caller,
        period=body.period,
        start_date=body.start_date,
        end_date=body.end_date,
    )
    return success(request, render_stats(result))


# ------------------------------------------------------------------------------- ad spend


def render_spend_page(page: SpendPage) -> list[dict[str, Any]]:
    rows = []
    for group in page.groups:
        totals = group.totals
        row: dict[str, Any]
        if page.group_by is GroupBy.DATE:
            row = {"date": totals.day.isoformat() if totals.day else None}
        elif page.group_by is GroupBy.PLATFORM:
            row = {"platform": totals.platform}
        else:
            row = {
                "campaignId": totals.campaign_id,
                "campaignName": totals.campaign_name,
                "platform": totals.platform,
            }
        row.update(
            {
                "currency": totals.currency,
                "spend": number(totals.spend),
                "clicks": totals.clicks,
                "impressions": totals.impressions,
                "leads": totals.leads,
                "qualified": totals.qualified,
                "won": totals.won,
                "wonValue": number(totals.won_value),
                "costPerLead": optional_number(group.cost_per_lead),
                "roas": optional_number(group.roas),
            }
        )
        rows.append(row)
    return rows


async def _spend_response(
    request: Request, session: Session, caller: Caller, query: rs.AdSpendQuery
) -> Response:
    caller.require(Permission.AD_SPEND_READ)
    page = await adspend.spend_report(
        session,
        caller,
        SpendQuery(
            start_date=query.start_date,
            end_date=query.end_date,
            platform=query.platform,
            group_by=query.group_by,
            limit=query.limit,
            page=query.page,
        ),
    )
    return success(
        request,
        render_spend_page(page),
        pagination=pagination(page),
    )


@router.get(
    "/ad-spend", response_model=rs.AdSpendListEnvelope, responses=ERROR_RESPONSES, tags=["ad spend"]
)
async def ad_spend_get(
    request: Request,
    session: Session,
    caller: Caller,
    start_date: Annotated[
        str, Query(alias="startDate", max_length=40, json_schema_extra=DAY_SCHEMA)
    ],
    end_date: Annotated[str, Query(alias="endDate", max_length=40, json_schema_extra=DAY_SCHEMA)],
    platform: Annotated[str | None, Query(max_length=64)] = None,
    group_by: Annotated[rs.GroupByName, Query(alias="groupBy")] = "date",
    limit: int = adspend.DEFAULT_PAGE_SIZE,
    page: int = 1,
) -> Response:
    """Ad spend per day, platform or campaign (and currency), with the leads it brought."""
    query = rs.AdSpendQuery(
        start_date=start_date,
        end_date=end_date,
        platform=platform,
        group_by=group_by,
        limit=limit,
        page=page,
    )
    return await _spend_response(request, session, caller, query)


@router.post(
    "/ad-spend", response_model=rs.AdSpendListEnvelope, responses=ERROR_RESPONSES, tags=["ad spend"]
)
async def ad_spend_post(
    request: Request,
    session: Session,
    caller: Reader,
    body: Annotated[rs.AdSpendQuery | None, Body()] = None,
) -> Response:
    """The same report as GET, with its parameters in a JSON body (or, without a body, in the
    query string)."""
    if body is None:
        try:
            body = rs.AdSpendQuery.model_validate(dict(request.query_params))
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
    return await _spend_response(request, session, caller, body)


@router.post(
    "/ad-spend/import",
    response_model=rs.AdSpendImportEnvelope,
    responses=ERROR_RESPONSES,
    tags=["ad spend"],
)
async def ad_spend_import(
    request: Request,
    session: Session,
    caller: Caller,
    body: Annotated[rs.AdSpendImportRequest, Body()],
) -> Response:
    """Load daily spend rows. A row for a day, platform and campaign already stored replaces
    it. One invalid row rejects the whole request and nothing is written."""
    caller.require(Permission.AD_SPEND_WRITE)
    result = await adspend.import_rows(
        session, caller, [row.model_dump() for row in body.rows], names=_IMPORT_NAMES
    )
    return success(
        request,
        {"rows": result.rows, "inserted": result.inserted, "replaced": result.replaced},
    )
