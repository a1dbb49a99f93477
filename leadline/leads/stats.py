"""Lead statistics: the usage, pipeline and conversion figures of one period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.auth.service import Principal
from leadline.errors import ValidationFailed
from leadline.kit.reporting import day_range, ratio
from leadline.kit.time import utcnow
from leadline.leads.repository import LeadRepository
from leadline.leads.schemas import LeadStatus

PERIODS: tuple[str, ...] = ("current", "previous", "custom")

# Rates are reported to four decimal places, amounts to the ten-thousandth stored.
RATE_PLACES = Decimal("0.0001")
MONEY_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class Period:
    """Inclusive bounds: from the first microsecond of ``first_day`` to the last of ``last_day``."""

    first_day: date
    last_day: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last_day, time.max, tzinfo=UTC)


def _month(year: int, month: int) -> Period:
    first = date(year, month, 1)
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return Period(first, date.fromordinal(following.toordinal() - 1))


def resolve_period(
    period: str, start_date: str | None, end_date: str | None, *, now: datetime | None = None
) -> Period:
    """``current``/``previous``: the calendar month (UTC) of now, or the one before it."""
    today = (now or utcnow()).astimezone(UTC).date()
    if period == "current":
        return _month(today.year, today.month)
    if period == "previous":
        if today.month == 1:
            return _month(today.year - 1, 12)
        return _month(today.year, today.month - 1)
    if period == "custom":
        first, last = day_range(start_date, end_date, start_name="startDate", end_name="endDate")
        return Period(first, last)
    raise ValidationFailed(
        f"period must be one of {', '.join(PERIODS)}", details={"field": "period"}
    )


@dataclass(frozen=True)
class LeadStats:
    period: Period
    leads_used: int
    leads_limit: int | None
    locked_leads: int
    total: int
    by_status: dict[str, int]
    by_source: dict[str, int]
    qualified: int
    qualification_rate: Decimal
    win_rate: Decimal
    average_value: Decimal
    total_value: Decimal
    currency: str
    value_by_currency: dict[str, Decimal]


async def lead_stats(
    session: AsyncSession,
    principal: Principal,
    *,
    period: str = "current",
    start_date: str | None = None,
    end_date: str | None = None,
    now: datetime | None = None,
) -> LeadStats:
    bounds = resolve_period(period, start_date, end_date, now=now)
    repo = LeadRepository(session)
    workspace_id = principal.workspace_id
    statuses = await repo.counts_by(workspace_id, "status", bounds.start, bounds.end)
    sources = await repo.counts_by(workspace_id, "source", bounds.start, bounds.end)
    won_groups = await repo.won_by_currency(workspace_id, bounds.start, bounds.end)

    by_status = {status.value: statuses.get(status.value, 0) for status in LeadStatus}
    total = sum(statuses.values())
    won = by_status[LeadStatus.WON]
    reached_qualified = by_status[LeadStatus.QUALIFIED] + won

    # Amounts in different currencies are never added up: totalValue and averageValue are in
    # the workspace currency; won leads valued in other currencies are listed apart.
    currency = principal.workspace.default_currency
    value_by_currency: dict[str, Decimal] = {}
    total_value = Decimal(0)
    won_elsewhere = 0
    for lead_currency, count, amount in won_groups:
        if lead_currency is None or lead_currency == currency:
            total_value += amount
        else:
            won_elsewhere += count
        if lead_currency is not None or amount:
            key = lead_currency or currency
            value_by_currency[key] = value_by_currency.get(key, Decimal(0)) + amount

    limit = principal.workspace.leads_limit
    return LeadStats(
        period=bounds,
        leads_used=total,
        leads_limit=limit,
        locked_leads=max(0, total - limit) if limit is not None else 0,
        total=total,
        by_status=by_status,
        by_source=dict(sorted(sources.items())),
        qualified=reached_qualified,
        qualification_rate=ratio(total - by_status[LeadStatus.OPEN], total, RATE_PLACES),
        win_rate=ratio(won, reached_qualified, RATE_PLACES),
        average_value=ratio(total_value, won - won_elsewhere, MONEY_PLACES),
        total_value=total_value,
        currency=currency,
        value_by_currency=dict(sorted(value_by_currency.items())),
    )
