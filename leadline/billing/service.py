"""A workspace's subscription as this instance reports it: the plan and billing cycle the
instance is configured with (no payment provider: Leadline is self-hosted), and what the
workspace used in the current cycle, each figure beside its limit when one is configured.

Limits are reported, not enforced: nothing is refused for going over one.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.assistant import service as assistant
from leadline.config import Settings
from leadline.inbox import service as inbox_service
from leadline.kit.time import utcnow
from leadline.leads import service as leads
from leadline.tracking import service as tracking

# Who takes the payments: nobody, on a self-hosted instance.
PROVIDER = "none"


@dataclass(frozen=True, slots=True)
class Cycle:
    """A billing cycle: from the day ``start`` to the day ``end``, excluded (UTC days)."""

    start: date
    end: date

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def ends_at(self) -> datetime:
        return datetime.combine(self.end, time.min, tzinfo=UTC)


def _cycle_day_in(year: int, month: int, cycle_day: int) -> date:
    """The day a cycle starts in this month: ``cycle_day``, or the month's last day when it
    is shorter (a cycle of day 31 starts on 30 April and on 28 or 29 February)."""
    return date(year, month, min(cycle_day, calendar.monthrange(year, month)[1]))


def _months_later(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def cycle_of(day: date, cycle_day: int) -> Cycle:
    """The billing cycle ``day`` falls in, for cycles that start on ``cycle_day`` (1-31) of
    each month."""
    if not 1 <= cycle_day <= 31:
        raise ValueError(f"a cycle starts on a day 1-31, not {cycle_day}")
    this_month = _cycle_day_in(day.year, day.month, cycle_day)
    if day >= this_month:
        start = this_month
        year, month = _months_later(day.year, day.month, 1)
        return Cycle(start, _cycle_day_in(year, month, cycle_day))
    year, month = _months_later(day.year, day.month, -1)
    return Cycle(_cycle_day_in(year, month, cycle_day), this_month)


@dataclass(frozen=True, slots=True)
class UsageItem:
    """What was used of one thing this cycle, and the configured limit (None: no limit)."""

    name: str
    used: int
    limit: int | None


@dataclass(frozen=True, slots=True)
class Subscription:
    plan: str
    provider: str
    cycle_day: int
    cycle: Cycle
    usage: tuple[UsageItem, ...]
    # The assistant's tokens this calendar month, against the workspace's own monthly limit
    # (the assistant stops answering, and hands off, when it is reached).
    assistant_tokens: AssistantTokens


@dataclass(frozen=True, slots=True)
class AssistantTokens:
    month: str
    used: int
    limit: int | None


async def subscription(
    session: AsyncSession, workspace_id: str, settings: Settings, *, today: date | None = None
) -> Subscription:
    """The workspace's plan and cycle, and its usage from the cycle's start until now."""
    cycle = cycle_of(today or utcnow().date(), settings.billing_cycle_day)
    inbox = await inbox_service.usage(session, workspace_id, cycle.starts_at)
    used = {
        "conversations": inbox.conversations,
        "messages": inbox.messages,
        # Metered by calendar month: this month's tokens.
        "ai_tokens": await assistant.tokens_used(session, workspace_id),
        "leads": await leads.count_created(session, workspace_id, cycle.starts_at, cycle.ends_at),
        "events": await tracking.events_between(session, workspace_id, cycle.start, cycle.end),
    }
    limits = {
        "conversations": settings.billing_limit_conversations,
        "messages": settings.billing_limit_messages,
        "ai_tokens": settings.billing_limit_ai_tokens,
        "leads": settings.billing_limit_leads,
        "events": settings.billing_limit_events,
    }
    return Subscription(
        plan=settings.billing_plan,
        provider=PROVIDER,
        cycle_day=settings.billing_cycle_day,
        cycle=cycle,
        usage=tuple(UsageItem(name, used[name], limits[name]) for name in used),
        assistant_tokens=AssistantTokens(
            assistant.month_of_now(),
            used["ai_tokens"],
            (await assistant.get_settings(session, workspace_id)).monthly_token_limit,
        ),
    )
