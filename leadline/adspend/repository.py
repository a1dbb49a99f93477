"""Every SQL statement for ad spend: the upsert of imported rows and the spend-vs-leads report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Date,
    Select,
    Subquery,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    select,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from leadline.adspend.schemas import GroupBy, SpendKey, SpendRow, SpendTotals
from leadline.db import Repository
from leadline.kit.ids import new_id
from leadline.models import AdSpend, Lead
from leadline.models.base import Money

_UNIQUE_KEY = ("workspace_id", "day", "platform", "campaign_id")
_QUALIFIED = ("qualified", "won")


def _money(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _as_date(value: Any) -> date | None:
    """A day read back through a UNION, where SQLite no longer knows the column is a date."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


class AdSpendRepository(Repository):
    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    # ----------------------------------------------------------------------------- import

    async def existing_keys(self, workspace_id: str, keys: Sequence[SpendKey]) -> set[SpendKey]:
        if not keys:
            return set()
        result = await self.session.execute(
            select(AdSpend.day, AdSpend.platform, AdSpend.campaign_id).where(
                AdSpend.workspace_id == workspace_id,
                tuple_(AdSpend.day, AdSpend.platform, AdSpend.campaign_id).in_(list(keys)),
            )
        )
        return {(row[0], row[1], row[2]) for row in result.all()}

    async def upsert(self, workspace_id: str, rows: Sequence[SpendRow], now: datetime) -> None:
        """Insert each row, or overwrite the one already stored for its day/platform/campaign."""
        if not rows:
            return
        values = [
            {
                "id": new_id("spend"),
                "workspace_id": workspace_id,
                "day": row.day,
                "platform": row.platform,
                "campaign_id": row.campaign_id,
                "campaign_name": row.campaign_name,
                "spend": row.spend,
                "currency": row.currency,
                "clicks": row.clicks,
                "impressions": row.impressions,
                "updated_at": now,
            }
            for row in rows
        ]
        updated = ("campaign_name", "spend", "currency", "clicks", "impressions", "updated_at")
        if self._dialect == "postgresql":
            pg = postgresql.insert(AdSpend)
            pg_stmt = pg.on_conflict_do_update(
                index_elements=list(_UNIQUE_KEY),
                set_={name: pg.excluded[name] for name in updated},
            )
            await self.session.execute(pg_stmt, values)
        else:
            lite = sqlite.insert(AdSpend)
            lite_stmt = lite.on_conflict_do_update(
                index_elements=list(_UNIQUE_KEY),
                set_={name: lite.excluded[name] for name in updated},
            )
            await self.session.execute(lite_stmt, values)

    # ----------------------------------------------------------------------------- report

    def _lead_day(self) -> ColumnElement[Any]:
        """The UTC calendar day a lead was created on, comparable with ``ad_spend.day``."""
        if self._dialect == "postgresql":
            return cast(func.timezone("UTC", Lead.created_at), Date)
        # SQLite keeps naive UTC text; date() cuts it to the 'YYYY-MM-DD' that Date columns hold.
        return func.date(Lead.created_at)

    def _attributed_leads(
        self, workspace_id: str, start: date, end: date, platform: str | None
    ) -> Select[Any]:
        """Leads with an ad click created in the range, each with the spend row it belongs to.

        A lead belongs to the spend row of its platform on its creation day whose campaign id is
        the lead's Google Ads campaign id; failing that, whose campaign id, then whose campaign
        name, is the lead's utm_campaign; failing that, the row without a campaign ("").
        """
        spend = aliased(AdSpend)
        day = self._lead_day()

        def match(condition: ColumnElement[bool]) -> Any:
            return (
                select(spend.id)
                .where(
                    spend.workspace_id == Lead.workspace_id,
                    spend.day == day,
                    spend.platform == Lead.ad_platform,
                    condition,
                )
                .order_by(spend.campaign_id)
                .limit(1)
                .scalar_subquery()
            )

        spend_id = func.coalesce(
            match(spend.campaign_id == Lead.google_ads_campaign_id),
            match(spend.campaign_id == Lead.utm_campaign),
            match(spend.campaign_name == Lead.utm_campaign),
            match(spend.campaign_id == ""),
        )
        query = select(
            spend_id.label("spend_id"),
            Lead.status.label("status"),
            Lead.value.label("value"),
            Lead.currency.label("currency"),
        ).where(
            Lead.workspace_id == workspace_id,
            Lead.ad_platform.is_not(None),
            Lead.created_at >= datetime.combine(start, time.min, tzinfo=UTC),
            Lead.created_at <= datetime.combine(end, time.max, tzinfo=UTC),
        )
        if platform is not None:
            query = query.where(Lead.ad_platform == platform)
        return query

    def _spend_in_range(
        self, workspace_id: str, start: date, end: date, platform: str | None
    ) -> list[ColumnElement[bool]]:
        conditions = [
            AdSpend.workspace_id == workspace_id,
            AdSpend.day >= start,
            AdSpend.day <= end,
        ]
        if platform is not None:
            conditions.append(AdSpend.platform == platform)
        return conditions

    @staticmethod
    def _group_keys(group_by: GroupBy) -> tuple[str, ...]:
        if group_by is GroupBy.DATE:
            return ("day",)
        if group_by is GroupBy.PLATFORM:
            return ("platform",)
        return ("platform", "campaign_id")

    async def report_count(
        self, workspace_id: str, start: date, end: date, platform: str | None, group_by: GroupBy
    ) -> int:
        """How many report rows there are: every group comes from at least one spend row."""
        keys = [getattr(AdSpend, name) for name in self._group_keys(group_by)]
        groups = (
            select(*keys, AdSpend.currency)
            .where(*self._spend_in_range(workspace_id, start, end, platform))
            .group_by(*keys, AdSpend.currency)
        )
        result = await self.session.execute(select(func.count()).select_from(groups.subquery()))
        return int(result.scalar_one())

    async def report(
        self,
        workspace_id: str,
        start: date,
        end: date,
        platform: str | None,
        group_by: GroupBy,
        limit: int,
        offset: int,
    ) -> list[SpendTotals]:
        stacked = self._stacked_spend_and_leads(workspace_id, start, end, platform)
        keys = [stacked.c[name] for name in self._group_keys(group_by)]
        columns: list[Any] = [
            *keys,
            stacked.c.currency,
            type_coerce(func.sum(stacked.c.spend), Money()).label("spend"),
            func.sum(stacked.c.clicks).label("clicks"),
            func.sum(stacked.c.impressions).label("impressions"),
            func.sum(stacked.c.leads).label("leads"),
            func.sum(stacked.c.qualified).label("qualified"),
            func.sum(stacked.c.won).label("won"),
            type_coerce(func.sum(stacked.c.won_value), Money()).label("won_value"),
        ]
        if group_by is GroupBy.CAMPAIGN:
            columns.append(self._latest_campaign_name(stacked, workspace_id, start, end))
        query = (
            select(*columns)
            .group_by(*keys, stacked.c.currency)
            .order_by(*keys, stacked.c.currency)
            .limit(limit)
            .offset(offset)
        )
        result = await self.session.execute(query)
        totals = []
        for row in result.mappings():
            totals.append(
                SpendTotals(
                    day=_as_date(row.get("day")),
                    platform=row.get("platform"),
                    campaign_id=row.get("campaign_id"),
                    campaign_name=row.get("campaign_name"),
                    currency=row["currency"],
                    spend=_money(row["spend"]),
                    clicks=int(row["clicks"] or 0),
                    impressions=int(row["impressions"] or 0),
                    leads=int(row["leads"] or 0),
                    qualified=int(row["qualified"] or 0),
                    won=int(row["won"] or 0),
                    won_value=_money(row["won_value"]),
                )
            )
        return totals

    def _stacked_spend_and_leads(
        self, workspace_id: str, start: date, end: date, platform: str | None
    ) -> Subquery:
        # Attribution once per lead, kept apart so neither database re-runs its lookups per
        # spend row; then spend rows and attributed leads (placed on their spend row) are
        # stacked, for the report to sum per group and currency in one pass.
        attributed = (
            self._attributed_leads(workspace_id, start, end, platform)
            .cte("attributed")
            .prefix_with("MATERIALIZED")
        )
        in_range = self._spend_in_range(workspace_id, start, end, platform)
        spend_side = select(
            AdSpend.day,
            AdSpend.platform,
            AdSpend.campaign_id,
            AdSpend.currency,
            AdSpend.spend.label("spend"),
            AdSpend.clicks.label("clicks"),
            AdSpend.impressions.label("impressions"),
            literal(0).label("leads"),
            literal(0).label("qualified"),
            literal(0).label("won"),
            null().label("won_value"),
        ).where(*in_range)
        is_won = attributed.c.status == "won"
        lead_side = (
            select(
                AdSpend.day,
                AdSpend.platform,
                AdSpend.campaign_id,
                AdSpend.currency,
                literal(0),
                literal(0),
                literal(0),
                literal(1),
                case((attributed.c.status.in_(_QUALIFIED), 1), else_=0),
                case((is_won, 1), else_=0),
                # A won lead's value counts only in the currency of the spend it belongs to.
                case((and_(is_won, attributed.c.currency == AdSpend.currency), attributed.c.value)),
            )
            .select_from(attributed)
            .join(AdSpend, AdSpend.id == attributed.c.spend_id)
        )
        return union_all(spend_side, lead_side).subquery("stacked")

    @staticmethod
    def _latest_campaign_name(
        stacked: Subquery, workspace_id: str, start: date, end: date
    ) -> ColumnElement[Any]:
        # A campaign may be renamed: show the name of its latest named day in the range.
        named = aliased(AdSpend)
        latest_name = (
            select(named.campaign_name)
            .where(
                named.workspace_id == workspace_id,
                named.platform == stacked.c.platform,
                named.campaign_id == stacked.c.campaign_id,
                named.day >= start,
                named.day <= end,
                named.campaign_name.is_not(None),
            )
            .order_by(named.day.desc())
            .limit(1)
            .scalar_subquery()
        )
        return latest_name.label("campaign_name")
