"""Octanist shapes of the stats and ad-spend endpoints, as clients send and receive them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from leadline.kit.reporting import DAY_SCHEMA
from leadline.surfaces.octanist.schemas import ListMeta, Meta

GroupByName = Literal["date", "platform", "campaign"]

# ---------------------------------------------------------------------------------- stats


class StatsUsage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    leadsUsed: int
    leadsLimit: int | None = Field(description="The workspace's lead cap; null = unlimited.")
    lockedLeads: int
    periodStart: str
    periodEnd: str


class StatsByStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    open: int
    qualified: int
    won: int
    lost: int


class StatsLeads(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total: int
    byStatus: StatsByStatus
    bySource: dict[str, int]


class StatsConversion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qualified: int = Field(description="Leads qualified or won.")
    qualificationRate: float = Field(description="(total - open) / total; 0 without leads.")
    winRate: float = Field(description="won / (qualified + won); 0 without such leads.")
    averageValue: float = Field(description="totalValue / won leads in `currency`.")
    totalValue: float = Field(description="Sum of the value of won leads in `currency`.")
    currency: str = Field(description="The workspace currency totalValue is expressed in.")
    valueByCurrency: dict[str, float] = Field(
        description="Won value per currency; other currencies are never added to totalValue."
    )


class StatsData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    usage: StatsUsage
    leads: StatsLeads
    conversion: StatsConversion


class StatsEnvelope(BaseModel):
    success: Literal[True]
    data: StatsData
    meta: Meta


# ------------------------------------------------------------------------------- ad spend


class AdSpendQuery(BaseModel):
    """POST /api/ad-spend body: the same parameters GET takes in the query string."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    start_date: str = Field(
        alias="startDate", max_length=40, description="YYYY-MM-DD", json_schema_extra=DAY_SCHEMA
    )
    end_date: str = Field(
        alias="endDate",
        max_length=40,
        description="YYYY-MM-DD, inclusive",
        json_schema_extra=DAY_SCHEMA,
    )
    platform: str | None = Field(default=None, max_length=64)
    group_by: GroupByName = Field(default="date", alias="groupBy")
    limit: int = Field(default=100, description="1-500")
    page: int = Field(default=1, description="1-indexed")


class _SpendMetrics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: str
    spend: float
    clicks: int
    impressions: int
    leads: int = Field(description="Leads attributed to this spend.")
    qualified: int = Field(description="Attributed leads that are qualified or won.")
    won: int
    wonValue: float = Field(description="Value of the won leads, in this row's currency.")
    costPerLead: float | None = Field(description="spend / leads; null without leads.")
    roas: float | None = Field(description="wonValue / spend; null when spend is 0.")


class AdSpendByDate(_SpendMetrics):
    date: str


class AdSpendByPlatform(_SpendMetrics):
    platform: str


class AdSpendByCampaign(_SpendMetrics):
    campaignId: str
    campaignName: str | None
    platform: str


class AdSpendListEnvelope(BaseModel):
    success: Literal[True]
    data: list[AdSpendByDate | AdSpendByPlatform | AdSpendByCampaign]
    meta: ListMeta


class AdSpendImportRow(BaseModel):
    """One day of spend. Amounts and counts may be numbers or numeric strings."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    date: StrictStr = Field(max_length=40, description="YYYY-MM-DD, MM/DD/YYYY or ISO-8601")
    platform: StrictStr = Field(max_length=64)
    campaign_id: Annotated[StrictStr, Field(max_length=128)] | StrictInt | None = Field(
        default=None, alias="campaignId"
    )
    campaign_name: Annotated[StrictStr, Field(max_length=512)] | None = Field(
        default=None, alias="campaignName"
    )
    spend: StrictInt | StrictFloat | Annotated[StrictStr, Field(max_length=40)]
    currency: Annotated[StrictStr, Field(max_length=8)] | None = Field(
        default=None, description="ISO 4217; the workspace currency when absent"
    )
    clicks: StrictInt | Annotated[StrictStr, Field(max_length=20)] | None = None
    impressions: StrictInt | Annotated[StrictStr, Field(max_length=20)] | None = None


class AdSpendImportRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    rows: list[AdSpendImportRow] = Field(min_length=1, max_length=10_000)


class AdSpendImportData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: int
    inserted: int
    replaced: int


class AdSpendImportEnvelope(BaseModel):
    success: Literal[True]
    data: AdSpendImportData
    meta: Meta
