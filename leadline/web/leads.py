"""The Leads pages: the lead table with its filters, one lead's timeline, status changes
in place and the CSV export of the current filter.

The list takes the filters of the Octanist lead list (``GET /api/leads``) with the leads'
own field names (``created_at[gte]``, ``utm_source``, ``gclid[exists]``, ...), and reads
through the same service, so a filter means the same thing on the page and in the API.
Status changes go through the service the APIs' updates use: the same webhook events and
audit entries follow.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from leadline.accounts.service import SignedIn
from leadline.analytics import export as exporting
from leadline.analytics import timeline as timelines
from leadline.analytics.query import ReportQuery
from leadline.clickhouse.source import ClickHouseSource
from leadline.errors import InvalidFilter, LeadlineError, ValidationFailed
from leadline.kit.filters import Condition, Op, parse_key
from leadline.kit.periods import Period
from leadline.kit.time import utcnow
from leadline.leads import exports as lead_exports
from leadline.leads import listing
from leadline.leads import service as leads
from leadline.leads.schemas import LeadSource, LeadStatus, LeadUpdate
from leadline.models import CLICK_ID_FIELDS, CONSENT_FIELDS, UTM_FIELDS
from leadline.sites import service as sites
from leadline.tracking import visits as tracking
from leadline.web import access
from leadline.web import conversions as web_conversions
from leadline.web.access import page
from leadline.web.rendering import render
from leadline.webhooks import service as webhooks

AREA = "leads"
RESULTS_ID = "leads-results"
PAGE_SIZES = (25, 50, 100)
# The sorts the page offers, as ``field:direction`` (the API's syntax) and their labels.
SORTS: tuple[tuple[str, str], ...] = (
    ("created_at:desc", "Newest first"),
    ("created_at:asc", "Oldest first"),
    ("updated_at:desc", "Recently updated"),
    ("qualified_at:desc", "Recently qualified"),
    ("value:desc", "Highest value"),
    ("value:asc", "Lowest value"),
    ("name:asc", "Name, A to Z"),
    ("email:asc", "Email, A to Z"),
    ("status:asc", "Status"),
    ("source:asc", "Source"),
)
DEFAULT_SORT = "created_at:desc"
# Parameters that are not filters.
_RESERVED = frozenset({"page", "limit", "sort", "search", "click"})
# Filters given several values at once (checkboxes), joined as the API joins them.
_LISTED = frozenset({"status", "source"})
MAX_PARAMETERS = 60
# How many of a lead's webhook deliveries its page lists.
DELIVERIES = 50
EXPORT_BATCH = 2000

# The form's fields: the filters it shows; any other filter in the address is kept hidden.
DATE_FILTERS = (("created_at", "Created"), ("updated_at", "Updated"), ("qualified_at", "Qualified"))
TEXT_FILTERS = ("website", *UTM_FIELDS, "label_id")
_SHOWN = frozenset(
    {
        "status",
        "source",
        *(f"{name}[{op}]" for name, _ in DATE_FILTERS for op in ("gte", "lte")),
        "value[gte]",
        "value[lte]",
        *TEXT_FILTERS,
    }
)


# ------------------------------------------------------------------------------ the query


@dataclass
class ListView:
    """A list request as the page shows it: the service's query, the parameters as given
    (blank ones left out) for links, and the form's values."""

    query: listing.LeadQuery
    params: list[tuple[str, str]]
    values: dict[str, str] = field(default_factory=dict)
    statuses: tuple[str, ...] = ()
    sort: str = DEFAULT_SORT
    click: str = ""

    def link(self, **changes: str | None) -> str:
        """The query string of this list with ``changes`` (None removes a parameter)."""
        kept = [(key, value) for key, value in self.params if key not in changes]
        kept += [(key, value) for key, value in changes.items() if value is not None]
        return urlencode(kept)

    @property
    def address(self) -> str:
        """The query string the address bar shows: the defaults (sort, page size) left out."""
        defaults = {("sort", DEFAULT_SORT), ("limit", str(listing.DEFAULT_PAGE_SIZE))}
        return urlencode([item for item in self.params if item not in defaults])

    @property
    def filtered(self) -> bool:
        return any(key not in ("page", "limit", "sort") for key, _ in self.params)

    @property
    def more_open(self) -> bool:
        """Whether a filter behind "More filters" is set (so that part shows open)."""
        shown_first = {"search", "limit", "status", "source", "created_at[gte]", "created_at[lte]"}
        return bool(self.click) or any(key in _SHOWN - shown_first for key in self.values)

    @property
    def hidden(self) -> list[tuple[str, str]]:
        """Filters in the address that the form has no field for, to be sent again."""
        return [(key, value) for key, value in self.params if key not in _SHOWN | _RESERVED]


def _whole_number(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed(
            f"{name} must be a whole number, not '{raw[:40]}'", details={"parameter": name}
        ) from None


def list_view(request: Request) -> ListView:
    """The list a request asks for; ValidationFailed (400) for what no list can answer."""
    items = [(k, v.strip()) for k, v in request.query_params.multi_items() if v.strip()]
    if len(items) > MAX_PARAMETERS:
        raise ValidationFailed(f"at most {MAX_PARAMETERS} filters at once")
    view = ListView(query=listing.LeadQuery(), params=items)
    conditions: list[Condition] = []
    listed: dict[str, list[str]] = {}
    limit, number, sort, search = listing.DEFAULT_PAGE_SIZE, 1, DEFAULT_SORT, None
    for key, value in items:
        if key == "page":
            number = _whole_number("page", value)
        elif key == "limit":
            limit = _whole_number("limit", value)
        elif key == "sort":
            sort = value
        elif key == "search":
            search = value
        elif key == "click":
            if value not in CLICK_ID_FIELDS:
                raise InvalidFilter(
                    f"click must be one of {', '.join(CLICK_ID_FIELDS)}",
                    details={"parameter": "click"},
                )
            view.click = value
            conditions.append(Condition(value, Op.EXISTS, "true"))
        elif key in _LISTED:
            listed.setdefault(key, []).extend(value.split(","))
        else:
            name, op = parse_key(key)
            conditions.append(Condition(name, op, value))
            view.values[key] = value
    for name, values in listed.items():
        conditions.append(Condition(name, Op.EQ, ",".join(values)))
        view.values[name] = ",".join(values)
    view.statuses = tuple(listed.get("status", ()))
    view.sort = sort
    view.query = listing.LeadQuery(
        conditions=conditions, sort=listing.sort_keys(sort), search=search, limit=limit, page=number
    )
    view.values["search"] = search or ""
    view.values["limit"] = str(limit)
    return view


# ------------------------------------------------------------------------------ showing


def moment(value: datetime | str | None) -> str:
    """A stored time as the pages write it: ``2026-03-10 14:05 UTC``."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def money(value: Decimal | None, currency: str | None) -> str:
    if value is None:
        return ""
    amount = f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    return f"{amount} {currency or ''}".strip()


def _plain_number(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def row_of(record: leads.LeadRecord) -> dict[str, Any]:
    """A lead as a row of the table shows it."""
    created = record["created_at"]
    return {
        **record,
        "title": record["name"] or record["email"] or record["phone"] or record["id"],
        "created": moment(created),
        "created_iso": created.isoformat() if created else "",
        "money": money(record["value"], record["currency"]),
        "value_text": _plain_number(record["value"]),
        "campaign": " / ".join(
            part for part in (record["utm_source"], record["utm_campaign"]) if part
        ),
    }


def _context(view: ListView, **more: Any) -> dict[str, Any]:
    return {
        "view": view,
        "statuses": [status.value for status in LeadStatus],
        "sources": [source.value for source in LeadSource],
        "sorts": SORTS,
        "page_sizes": PAGE_SIZES,
        "date_filters": DATE_FILTERS,
        "text_filters": TEXT_FILTERS,
        "click_ids": CLICK_ID_FIELDS,
        "results_id": RESULTS_ID,
        **more,
    }


def _wants_fragment(request: Request, target: str) -> bool:
    return access.is_htmx(request) and request.headers.get("HX-Target") == target


# ------------------------------------------------------------------------------ the list


@page
async def lead_list(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The workspace's leads, filtered, sorted, searched and paged; the table alone for htmx."""
    access.require_area(who, AREA)
    fragment = _wants_fragment(request, RESULTS_ID)
    try:
        view = list_view(request)
        found = await listing.list_leads(session, who.principal, view.query)
    except LeadlineError as exc:
        if exc.status_code >= 500:
            raise
        # The form shows what was sent, for the person to correct.
        sent = dict(request.query_params.items())
        view = ListView(query=listing.LeadQuery(), params=[], values=sent)
        view.statuses = tuple(request.query_params.getlist("status"))
        view.sort = sent.get("sort", DEFAULT_SORT)
        view.click = sent.get("click", "")
        context = _context(view, error=exc.message, found=None, rows=[], empty=False)
        template = "leads/_results.html" if fragment else "leads/list.html"
        return render(request, template, context, status_code=exc.status_code)
    empty = found.total == 0 and not view.filtered
    context = _context(
        view,
        error="",
        found=found,
        rows=[row_of(record) for record in found.records],
        empty=empty,
        sites=await sites.sites_of(session, who.workspace.id) if empty else [],
        origin=f"{request.url.scheme}://{request.url.netloc}",
        default_currency=who.workspace.default_currency,
    )
    if fragment:
        pushed = access.base(request) + "/leads" + (f"?{view.address}" if view.address else "")
        return render(request, "leads/_results.html", context, headers={"HX-Push-Url": pushed})
    return render(request, "leads/list.html", context)


# ------------------------------------------------------------------------------ export


@page
async def export_csv(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The leads of the list's filters and search as CSV, newest first, streamed."""
    access.require_area(who, AREA)
    view = list_view(request)
    # Checked now, so a bad filter is a 400 page rather than a broken download.
    checked = listing.checked_query(who.principal, view.query)
    workspace_id = who.workspace.id
    db = access.database(request)
    fields = lead_exports.LEAD_FIELDS

    async def chunks() -> AsyncIterator[bytes]:
        yield exporting.encode_csv(fields, [], header=True)
        before: tuple[datetime, str] | None = None
        while True:
            async with db.transaction() as reading:
                rows = await lead_exports.listed_leads_page(
                    reading, workspace_id, checked, before, EXPORT_BATCH
                )
            if rows:
                yield exporting.encode_csv(fields, rows, header=False)
            if len(rows) < EXPORT_BATCH:
                return
            before = (rows[-1].created_at, rows[-1].id)

    name = f"leads-{utcnow().date().isoformat()}.csv"
    return StreamingResponse(
        chunks(),
        media_type=exporting.MEDIA_TYPES["csv"],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# ------------------------------------------------------------------------------ status


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _update_of(lead_id: str, form: FormData) -> LeadUpdate:
    """The status change a row's or a lead page's form asks for."""
    status = _text(form, "status")
    if status not in ("qualified", "won", "lost"):
        raise ValidationFailed("choose qualified, won or lost", details={"field": "status"})
    values: dict[str, Any] = {"id": lead_id, "status": status}
    value = _text(form, "value") if status == "won" else ""
    if value:
        values["value"] = value
        currency = _text(form, "currency")
        if currency:
            values["currency"] = currency
    reason = _text(form, "reason") if status == "lost" else ""
    if reason:
        values["loss_reason"] = reason
    try:
        return LeadUpdate.model_validate(values)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = str(problem["loc"][0]) if problem["loc"] else ""
        name = {"loss_reason": "reason"}.get(where, where)
        wanted = {
            "value": "the value must be a number, such as 1500 or 1500.50",
            "currency": "the currency must be a three-letter code, such as EUR",
            "id": "there is no such lead",
        }.get(name, f"{name or 'the form'}: {problem['msg']}")
        raise ValidationFailed(wanted, details={"field": name}) from None


_DONE = {"qualified": "qualified", "won": "won", "lost": "lost"}


@page
async def change_status(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """Qualify a lead, or mark it won (with its value) or lost (with the reason): for htmx
    the lead's row again, else back to the lead's page."""
    access.require_area(who, AREA)
    lead_id = request.path_params["lead_id"]
    form = await request.form()
    principal = who.principal
    htmx = access.is_htmx(request)
    try:
        update = _update_of(lead_id, form)
        await leads.update_leads(session, principal, update)
    except ValidationFailed as exc:
        if not htmx:
            raise
        record = await leads.get_lead(session, principal, lead_id)
        context = {"row": row_of(record), "error": exc.message, "default_currency": ""}
        context["default_currency"] = who.workspace.default_currency
        return render(request, "leads/_row.html", context, status_code=400)
    record = await leads.get_lead(session, principal, lead_id)
    row = row_of(record)
    message = f"{row['title']} is now {_DONE[record['status']]}."
    if not htmx:
        target = f"{access.base(request)}/leads/{lead_id}?changed={record['status']}"
        return RedirectResponse(target, status_code=303)
    changed = {"leadChanged": {"message": message, "row": f"lead-{lead_id}"}}
    return render(
        request,
        "leads/_row.html",
        {"row": row, "error": "", "default_currency": who.workspace.default_currency},
        headers={"HX-Trigger-After-Settle": json.dumps(changed)},
    )


# ------------------------------------------------------------------------------ one lead


def _query_of(who: SignedIn) -> ReportQuery:
    """The timeline's reader: it needs only the workspace and whether to mask."""
    today = utcnow().date()
    return ReportQuery(
        workspace_id=who.workspace.id,
        site_ids=(),
        period=Period(today, today, ZoneInfo("UTC")),
        now=utcnow(),
        role=who.person.role,
        pages=access.pages_of(who),
        masked=access.masked(who),
    )


def _attribution(record: leads.LeadRecord, referrer: str | None) -> list[tuple[str, str]]:
    """What brought the lead, as label and value, the values it has only."""
    landing = (record["website"] or "") + (record["path"] or "")
    pairs: list[tuple[str, Any]] = [
        ("Ad platform", record["ad_platform"]),
        ("Landing page", landing),
        ("Referrer", referrer),
        *((name, record[name]) for name in CLICK_ID_FIELDS),
        *((name, record[name]) for name in UTM_FIELDS),
        ("Google Ads campaign", record["google_ads_campaign_name"]),
        ("Google Ads campaign id", record["google_ads_campaign_id"]),
        ("Google Ads ad group", record["google_ads_ad_group_name"]),
        ("Google Ads ad", record["google_ads_ad_id"]),
        ("Conversion", record["conversion_name"]),
    ]
    return [(label, str(value)) for label, value in pairs if value not in (None, "")]


def _consent(record: leads.LeadRecord) -> list[tuple[str, str]]:
    words = {True: "granted", False: "denied"}
    return [(name, words[record[name]]) for name in CONSENT_FIELDS if record[name] is not None]


def _timeline(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**entry, "when": moment(entry["at"])} for entry in entries]


def _deliveries(found: Sequence[webhooks.LeadDelivery]) -> list[dict[str, Any]]:
    return [
        {
            "type": item.event.type,
            "url": item.endpoint_url,
            "state": item.delivery.state,
            "attempts": item.delivery.attempts,
            "last_status": item.delivery.last_status,
            "when": moment(item.event.created_at),
        }
        for item in found
    ]


@page
async def lead_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """One lead: who, where it stands, what brought it, and its timeline."""
    access.require_area(who, AREA)
    lead_id = request.path_params["lead_id"]
    record = await leads.get_lead(session, who.principal, lead_id)
    source: ClickHouseSource | None = getattr(request.app.state, "clickhouse", None)
    clickhouse = await source.client() if source is not None else None
    detail = await timelines.lead_timeline(session, _query_of(who), lead_id, clickhouse)
    visit = (
        await tracking.visit_of(session, who.workspace.id, record["visit_id"])
        if record["visit_id"]
        else None
    )
    sent = await webhooks.deliveries_of_lead(session, who.workspace.id, lead_id, limit=DELIVERIES)
    changed = request.query_params.get("changed")
    return render(
        request,
        "leads/lead.html",
        {
            "row": row_of(record),
            "lead": record,
            "facts": {
                "updated": moment(record["updated_at"]),
                "qualified": moment(record["qualified_at"]),
                "expires": moment(record["expires_at"]),
            },
            "attribution": _attribution(record, visit.referrer if visit else None),
            "consent": _consent(record),
            "timeline": _timeline(detail["timeline"]),
            "limits": detail["limits"],
            "deliveries": _deliveries(sent),
            "deliveries_limit": DELIVERIES,
            "changed": changed if changed in _DONE else "",
            "default_currency": who.workspace.default_currency,
            "error": "",
            "conversions": await web_conversions.lead_section(session, who, lead_id),
        },
    )


ROUTES: list[BaseRoute] = [
    Route("/leads", lead_list, methods=["GET"]),
    Route("/leads/export.csv", export_csv, methods=["GET"]),
    Route("/leads/{lead_id}", lead_page, methods=["GET"]),
    Route("/leads/{lead_id}/status", change_status, methods=["POST"]),
]
