"""Ad spend shapes shared by the importer, the report and the surfaces (domain names)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from leadline.kit.pagination import PageWindow


class GroupBy(StrEnum):
    DATE = "date"
    PLATFORM = "platform"
    CAMPAIGN = "campaign"


# The fields of one spend row, as the importer reads them from CSV columns or JSON keys.
ROW_FIELDS: tuple[str, ...] = (
    "date",
    "platform",
    "campaign_id",
    "campaign_name",
    "spend",
    "currency",
    "clicks",
    "impressions",
)
REQUIRED_FIELDS: tuple[str, ...] = ("date", "platform", "spend")

SpendKey = tuple[date, str, str]


@dataclass(frozen=True)
class SpendRow:
    """One validated day of spend for a platform and campaign (``campaign_id`` "" = none)."""

    day: date
    platform: str
    campaign_id: str
    campaign_name: str | None
    spend: Decimal
    currency: str
    clicks: int
    impressions: int

    @property
    def key(self) -> SpendKey:
        return (self.day, self.platform, self.campaign_id)


@dataclass(frozen=True)
class ImportResult:
    rows: int
    inserted: int
    replaced: int


@dataclass(frozen=True)
class SpendQuery:
    """Report parameters as the caller sent them; the service validates every one."""

    start_date: str | None
    end_date: str | None
    platform: str | None = None
    group_by: str = GroupBy.DATE.value
    limit: int = 100
    page: int = 1


@dataclass(frozen=True)
class SpendTotals:
    """One report row: a group (day, platform or campaign) in one currency, as the SQL sums it."""

    day: date | None
    platform: str | None
    campaign_id: str | None
    campaign_name: str | None
    currency: str
    spend: Decimal
    clicks: int
    impressions: int
    leads: int
    qualified: int
    won: int
    won_value: Decimal


@dataclass(frozen=True)
class SpendGroup:
    totals: SpendTotals
    cost_per_lead: Decimal | None
    roas: Decimal | None


@dataclass(frozen=True, kw_only=True)
class SpendPage(PageWindow):
    group_by: GroupBy
    groups: list[SpendGroup]
