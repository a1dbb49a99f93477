"""The lead reports: PulseGate's "engine" aggregates of lead submissions (per day, project,
source and engagement label, totals and averages), the filter options, and the lead list.

The aggregates sum the rollups the capture keeps, per UTC day and per quarter hour
(``forms.service.interval_sums``; docs/adr/0009-submission-rollups.md): a zone's day is the
UTC days between the UTC midnights nearest its own two, corrected by the quarters between
each of its midnights and the nearest UTC one (every zone's midnight falls on a quarter hour).
The lead list reads submissions themselves: each lead once, at its latest submission of the
period that meets the filters.

What a submission's ``source`` is: its form's SOURCE field (PulseGate's ``lead_source``), else
the utm_source it or its tracked visit carried, else that visit's channel (see
``forms.capture.source_of``). Its ``project`` is its PROJECT field. The reports count what the
public sent (outcomes created, merged and kept_aside); a blocked address's submissions and the
team's own (testing) are kept but not counted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.analytics.masking import shown_email, shown_phone
from leadline.analytics.query import ReportQuery
from leadline.errors import ValidationFailed
from leadline.forms import service as forms
from leadline.forms.service import Narrowing, Sums
from leadline.kit import cursors
from leadline.kit.periods import Period, local_midnight
from leadline.kit.time import iso_micros, iso_millis, parse_datetime
from leadline.leads import service as leads
from leadline.models import Lead, LeadSubmission

# A filter's value that asks for the submissions without one (no project, no source, no
# tracked visit to score); shown as null in answers.
NONE = "(none)"
# Engagement labels (reference 3.4), hottest first, and how a filter may name each.
LABELS: tuple[str, ...] = ("Very Hot", "Hot", "Warm", "Cold")
_LABEL_NAMES = {
    **{label.lower(): label for label in LABELS},
    "very_hot": "Very Hot",
    "veryhot": "Very Hot",
    NONE: "",
    "none": "",
}
_SUSPICION = {"suspicious": True, "clean": False}
MAX_FILTER = 200
# Rows a breakdown (by project, by source) lists at most, the largest first.
MAX_ROWS = 200
# The lead list's page size: by default, and at most.
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
# A search looks among this many of the newest leads that match it.
SEARCH_LEADS = 1000
MAX_SEARCH = 200


@dataclass(frozen=True, slots=True)
class Filters:
    """The optional filters every lead report takes (None: any)."""

    project: str | None = None
    source: str | None = None
    engagement_label: str | None = None
    suspicious: bool | None = None


def _text(params: Mapping[str, str], name: str) -> str | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    if len(value) > MAX_FILTER or "\x00" in value:
        raise ValidationFailed(
            f"{name} must be at most {MAX_FILTER} characters", details={"parameter": name}
        )
    return "" if value == NONE else value


def parse_filters(params: Mapping[str, str]) -> Filters:
    """``project``, ``source`` (a value, or ``(none)``), ``engagement`` (Cold, Warm, Hot,
    Very Hot, or ``none``: no tracked visit) and ``suspicion`` (``suspicious`` or ``clean``);
    a value not understood is a 400 naming its parameter."""
    label: str | None = None
    engagement = (params.get("engagement") or "").strip()
    if engagement:
        found = _LABEL_NAMES.get(engagement.lower())
        if found is None:
            raise ValidationFailed(
                f"engagement must be one of {', '.join(LABELS)} or none, not '{engagement}'",
                details={"parameter": "engagement"},
            )
        label = found
    suspicious: bool | None = None
    suspicion = (params.get("suspicion") or "").strip().lower()
    if suspicion:
        if suspicion not in _SUSPICION:
            raise ValidationFailed(
                "suspicion must be suspicious or clean", details={"parameter": "suspicion"}
            )
        suspicious = _SUSPICION[suspicion]
    return Filters(_text(params, "project"), _text(params, "source"), label, suspicious)


def _narrowing(site_ids: tuple[str, ...] | None, filters: Filters) -> Narrowing:
    return Narrowing(
        site_ids=site_ids,
        project=filters.project,
        source=filters.source,
        engagement_label=filters.engagement_label,
        suspicious=filters.suspicious,
    )


def compared(value: int | float | None, previous: int | float | None) -> dict[str, Any]:
    """A number shown beside the previous period's."""
    return {"value": value, "previous": previous}


def _period(period: Period) -> dict[str, str]:
    return {"from": period.first.isoformat(), "to": period.last.isoformat(), "tz": period.tz.key}


def _periods(query: ReportQuery) -> dict[str, Any]:
    return {"period": _period(query.period), "previous_period": _period(query.period.previous)}


def _shown(value: str) -> str | None:
    return value or None


@dataclass(frozen=True, slots=True)
class Scope:
    """What every lead report reads: the question, and the sites (None: the workspace's
    every site, and submissions sent without one) and filters it is narrowed to."""

    query: ReportQuery
    site_ids: tuple[str, ...] | None
    filters: Filters

    @property
    def narrowing(self) -> Narrowing:
        return _narrowing(self.site_ids, self.filters)


def _total(grouped: dict[tuple[Any, ...], Sums]) -> Sums:
    total = Sums()
    for sums in grouped.values():
        total.add(sums)
    return total


async def _two_periods(
    session: AsyncSession, scope: Scope, groups: tuple[str, ...] = ()
) -> tuple[dict[tuple[Any, ...], Sums], dict[tuple[Any, ...], Sums]]:
    """The period's sums and the previous period's (which ends where it starts)."""
    period = scope.query.period
    bounds = [period.previous.start, period.start, period.end]
    before, now = await forms.interval_sums(
        session, scope.query.workspace_id, bounds, scope.narrowing, groups
    )
    return now, before


def _average(total: int, count: int) -> float | None:
    return round(total / count, 1) if count else None


# ---------------------------------------------------------------------------- the engine


async def overview(session: AsyncSession, scope: Scope) -> dict[str, Any]:
    """Submission totals and averages, each beside the previous period's."""
    grouped_now, grouped_before = await _two_periods(session, scope)
    now, before = _total(grouped_now), _total(grouped_before)
    return {
        **_periods(scope.query),
        "submissions": compared(now.submissions, before.submissions),
        "leads": compared(now.created, before.created),
        "merged": compared(now.merged, before.merged),
        "kept_aside": compared(now.kept_aside, before.kept_aside),
        "suspicious": compared(now.suspicious, before.suspicious),
        "avg_engagement": compared(
            _average(now.engagement_total, now.engaged),
            _average(before.engagement_total, before.engaged),
        ),
        "avg_suspicion": compared(
            _average(now.suspicion_total, now.submissions),
            _average(before.suspicion_total, before.submissions),
        ),
    }


def _counted(a: Sums, b: Sums) -> dict[str, Any]:
    return {
        "submissions": compared(a.submissions, b.submissions),
        "leads": compared(a.created, b.created),
        "suspicious": compared(a.suspicious, b.suspicious),
    }


async def daily(session: AsyncSession, scope: Scope) -> dict[str, Any]:
    """Submissions, new leads and suspicious submissions on each day of the period (the
    zone's days), each beside the same day of the previous period."""
    period, previous = scope.query.period, scope.query.period.previous
    earlier_days, days = previous.each_day(), period.each_day()
    bounds = [
        *(local_midnight(day, period.tz) for day in (*earlier_days, *days)),
        period.end,
    ]
    found = await forms.interval_sums(session, scope.query.workspace_id, bounds, scope.narrowing)
    totals = [_total(grouped) for grouped in found]
    before, now = totals[: len(earlier_days)], totals[len(earlier_days) :]
    listed = [
        {"date": day.isoformat(), "previous_date": earlier.isoformat(), **_counted(a, b)}
        for day, earlier, a, b in zip(days, earlier_days, now, before, strict=True)
    ]
    total_now, total_before = Sums(), Sums()
    for a, b in zip(now, before, strict=True):
        total_now.add(a)
        total_before.add(b)
    return {
        **_periods(scope.query),
        "days": listed,
        "total": _counted(total_now, total_before),
    }


async def _breakdown(
    session: AsyncSession, scope: Scope, column: str, order: tuple[str, ...] | None = None
) -> dict[str, Any]:
    grouped_now, grouped_before = await _two_periods(session, scope, (column,))
    now = {key[0]: sums for key, sums in grouped_now.items()}
    before = {key[0]: sums for key, sums in grouped_before.items()}
    empty = Sums()
    if order is None:
        # A value whose sums came to nothing (its submissions counted, then taken away at a
        # bound) is no row.
        present = [
            k
            for k in {*now, *before}
            if now.get(k, empty).submissions or before.get(k, empty).submissions
        ]
        keys = sorted(
            present,
            key=lambda k: (-now.get(k, empty).submissions, -before.get(k, empty).submissions, k),
        )
        truncated = len(keys) > MAX_ROWS
        keys = keys[:MAX_ROWS]
    else:
        keys, truncated = list(order), False
    total_now = sum(sums.submissions for sums in now.values())
    total_before = sum(sums.submissions for sums in before.values())
    rows = []
    for key in keys:
        a, b = now.get(key, empty), before.get(key, empty)
        rows.append(
            {
                column: _shown(key),
                **_counted(a, b),
                "share": round(100 * a.submissions / total_now, 1) if total_now else 0.0,
            }
        )
    return {
        **_periods(scope.query),
        "rows": rows,
        "truncated": truncated,
        "total": compared(total_now, total_before),
    }


async def by_project(session: AsyncSession, scope: Scope) -> dict[str, Any]:
    """Submissions per project (null: sent without one), the most first."""
    return await _breakdown(session, scope, "project")


async def by_source(session: AsyncSession, scope: Scope) -> dict[str, Any]:
    """Submissions per source (null: nothing said where they came from), the most first."""
    return await _breakdown(session, scope, "source")


async def by_engagement(session: AsyncSession, scope: Scope) -> dict[str, Any]:
    """Submissions per engagement label, hottest first; null: no tracked visit to score."""
    answer = await _breakdown(session, scope, "engagement_label", (*LABELS, ""))
    for row in answer["rows"]:
        row["engagement"] = row.pop("engagement_label")
    return answer


async def options(session: AsyncSession, scope: Scope, column: str) -> list[str | None]:
    """The projects or sources (``column``) of the period's submissions, in order; null
    stands for none."""
    found = await forms.rollup_values(
        session,
        scope.query.workspace_id,
        scope.query.period.start,
        scope.query.period.end,
        _narrowing(scope.site_ids, Filters()),
        column,
    )
    return [_shown(value) for value in found]


# ---------------------------------------------------------------------------- the lead list


@dataclass(frozen=True, slots=True)
class LeadListing:
    """One page of the lead list: ``limit`` leads after ``cursor``, matching ``search``."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    search: str | None = None


def _number(params: Mapping[str, str], name: str, default: int, lowest: int, highest: int) -> int:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(
            f"{name} must be a whole number", details={"parameter": name}
        ) from None
    if not lowest <= value <= highest:
        raise ValidationFailed(
            f"{name} must be from {lowest} to {highest}", details={"parameter": name}
        )
    return value


def parse_listing(params: Mapping[str, str]) -> LeadListing:
    """``limit`` (1-100, 25 by default), ``cursor`` (a ``next_cursor``), ``search``."""
    search = (params.get("search") or "").strip() or None
    if search is not None and (len(search) > MAX_SEARCH or "\x00" in search):
        raise ValidationFailed(
            f"search must be at most {MAX_SEARCH} characters", details={"parameter": "search"}
        )
    cursor = (params.get("cursor") or "").strip() or None
    if cursor is not None:
        cursors.decode(cursor, _read_cursor, parameter="cursor")
    return LeadListing(_number(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT), cursor, search)


def _read_cursor(key: dict[str, Any]) -> tuple[datetime, str]:
    at, submission_id = key["at"], key["id"]
    if not isinstance(at, str) or not isinstance(submission_id, str):
        raise ValueError("not a cursor")
    return parse_datetime(at), submission_id


def _engagement(score: int | None, label: str | None) -> dict[str, Any]:
    return {"score": score, "label": label}


def suspicion_of(score: int, reasons: str) -> dict[str, Any]:
    try:
        listed = json.loads(reasons)
    except ValueError:
        listed = []
    return {
        "score": score,
        "suspicious": score >= forms.SUSPICIOUS_FROM,
        "reasons": listed if isinstance(listed, list) else [],
    }


async def lead_list(session: AsyncSession, scope: Scope, listing: LeadListing) -> dict[str, Any]:
    """A page of the leads that sent a submission in the period meeting the filters, the
    latest first, each with its latest such submission."""
    query = scope.query
    narrowing = scope.narrowing
    if listing.search is not None:
        found = await leads.lead_ids_matching(
            session, query.workspace_id, listing.search, at_most=SEARCH_LEADS
        )
        narrowing = replace(narrowing, lead_ids=tuple(found))
    before = (
        cursors.decode(listing.cursor, _read_cursor, parameter="cursor") if listing.cursor else None
    )
    rows = []
    if narrowing.lead_ids is None or narrowing.lead_ids:
        rows = await forms.latest_of_leads(
            session,
            query.workspace_id,
            query.period.start,
            query.period.end,
            narrowing,
            before=before,
            limit=listing.limit + 1,
        )
    page, more = cursors.cut(rows, listing.limit)
    lead_ids = [row.lead_id for row in page if row.lead_id]
    found_leads = await leads.leads_by_id(session, query.workspace_id, lead_ids)
    counts = await forms.counts_of_leads(
        session, query.workspace_id, lead_ids, query.period.start, query.period.end
    )
    items = [
        _list_item(row, found_leads.get(row.lead_id or ""), counts, query.masked) for row in page
    ]
    last = page[-1] if page and more else None
    return {
        **_periods(query),
        "leads": items,
        "limit": listing.limit,
        "has_more": more,
        "next_cursor": (
            cursors.encode({"at": iso_micros(last.created_at), "id": last.id}) if last else None
        ),
    }


def _list_item(
    row: LeadSubmission, lead: Lead | None, counts: dict[str, int], masked: bool
) -> dict[str, Any]:
    email = lead.email if lead is not None else row.email
    phone = (lead.phone_e164 or lead.phone) if lead is not None else row.phone_e164
    return {
        "id": row.lead_id,
        "name": lead.name if lead is not None else None,
        "email": shown_email(email, masked),
        "phone": shown_phone(phone, masked),
        "status": lead.status if lead is not None else None,
        "created_at": iso_millis(lead.created_at) if lead is not None else None,
        "project": _shown(row.project),
        "source": _shown(row.source),
        "site_id": row.site_id,
        "submissions": counts.get(row.lead_id or "", 0),
        "engagement": _engagement(row.engagement_score, row.engagement_label),
        "suspicion": suspicion_of(row.suspicion_score, row.suspicion_reasons),
        "latest_submission": {
            "id": row.id,
            "at": iso_millis(row.created_at),
            "form_id": row.form_id,
            "outcome": row.outcome,
        },
    }
