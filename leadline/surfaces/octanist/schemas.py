"""Octanist request and response shapes: field names as Octanist clients send and expect them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from leadline.leads.schemas import LeadCreate, LeadStatus, LeadUpdate, parse_status

# Domain name -> Octanist name, where they differ.
OCTANIST_NAMES: dict[str, str] = {
    "phone_e164": "phoneE164",
    "loss_reason": "lossReason",
    "conversion_name": "conversionName",
    "google_ads_campaign_id": "googleAdsCampaignId",
    "google_ads_campaign_name": "googleAdsCampaignName",
    "google_ads_ad_group_id": "googleAdsAdGroupId",
    "google_ads_ad_group_name": "googleAdsAdGroupName",
    "google_ads_ad_id": "googleAdsAdId",
    "label_id": "labelId",
    "selected_conversion_event_id": "selectedConversionEventId",
    "session_id": "sessionId",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
    "qualified_at": "qualifiedAt",
    "expires_at": "expiresAt",
}
DOMAIN_NAMES: dict[str, str] = {v: k for k, v in OCTANIST_NAMES.items()}


def octanist_name(domain: str) -> str:
    return OCTANIST_NAMES.get(domain, domain)


# The lead object in the order of the Octanist docs, then the fields Leadline adds.
LEAD_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "email",
    "phone",
    "status",
    "value",
    "currency",
    "note",
    "custom",
    "lossReason",
    "conversionName",
    "source",
    "website",
    "path",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "ga4cid",
    "ga4sid",
    "fbc",
    "fbp",
    "msclkid",
    "ttclid",
    "twclid",
    "rdt_cid",
    "sccid",
    "li_fat_id",
    "epik",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "ad_storage",
    "ad_user_data",
    "analytics_storage",
    "ad_personalization",
    "googleAdsCampaignId",
    "googleAdsCampaignName",
    "googleAdsAdGroupId",
    "googleAdsAdGroupName",
    "googleAdsAdId",
    "labelId",
    "selectedConversionEventId",
    "sessionId",
    "phoneE164",
    "createdAt",
    "updatedAt",
    "qualifiedAt",
    "expiresAt",
)


class OctanistLeadCreate(LeadCreate):
    """POST /api/leads body. ``custom`` may be a string, object or array."""

    model_config = ConfigDict(
        extra="ignore",
        alias_generator=lambda name: octanist_name(name),
        populate_by_name=True,
    )


class OctanistLeadUpdate(LeadUpdate):
    """PATCH /api/leads body. ``changedTo`` is the legacy name of ``status``."""

    model_config = ConfigDict(
        extra="ignore",
        alias_generator=lambda name: octanist_name(name),
        populate_by_name=True,
    )
    changed_to: Annotated[LeadStatus | None, BeforeValidator(parse_status)] = Field(
        default=None, alias="changedTo"
    )


class StatsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    period: Literal["current", "previous", "custom"] = "current"
    start_date: str | None = Field(default=None, alias="startDate", max_length=40)
    end_date: str | None = Field(default=None, alias="endDate", max_length=40)


# ------------------------------------------------------------------ response shapes (OpenAPI)


class Pagination(BaseModel):
    limit: int
    page: int
    totalPages: int
    total: int
    hasMore: bool


class Meta(BaseModel):
    requestId: str = Field(pattern=r"^req_[0-9a-f]{12}$")
    timestamp: str


class ListMeta(Meta):
    pagination: Pagination


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorEnvelope(BaseModel):
    success: Literal[False]
    error: ErrorBody
    meta: Meta


class LeadOut(BaseModel):
    """Every field may be absent when ``fields`` selects a subset."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    status: Literal["open", "qualified", "won", "lost"] | None = None
    value: float | None = None
    currency: str | None = None
    note: str | None = None
    custom: str | None = None
    lossReason: str | None = None
    conversionName: str | None = None
    source: str | None = None
    website: str | None = None
    path: str | None = None
    gclid: str | None = None
    dclid: str | None = None
    gbraid: str | None = None
    wbraid: str | None = None
    ga4cid: str | None = None
    ga4sid: str | None = None
    fbc: str | None = None
    fbp: str | None = None
    msclkid: str | None = None
    ttclid: str | None = None
    twclid: str | None = None
    rdt_cid: str | None = None
    sccid: str | None = None
    li_fat_id: str | None = None
    epik: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    ad_storage: bool | None = None
    ad_user_data: bool | None = None
    analytics_storage: bool | None = None
    ad_personalization: bool | None = None
    googleAdsCampaignId: str | None = None
    googleAdsCampaignName: str | None = None
    googleAdsAdGroupId: str | None = None
    googleAdsAdGroupName: str | None = None
    googleAdsAdId: str | None = None
    labelId: str | None = None
    selectedConversionEventId: str | None = None
    sessionId: str | None = None
    phoneE164: str | None = None
    createdAt: str | None = None
    updatedAt: str | None = None
    qualifiedAt: str | None = None
    expiresAt: str | None = None


class LeadEnvelope(BaseModel):
    success: Literal[True]
    data: LeadOut
    meta: Meta


class LeadListEnvelope(BaseModel):
    success: Literal[True]
    data: list[LeadOut]
    meta: ListMeta


class CreatedLeadData(BaseModel):
    id: str
    message: str
    sessionLinked: bool


class CreatedLeadEnvelope(BaseModel):
    success: Literal[True]
    data: CreatedLeadData
    meta: Meta


class ReceivedSubmissionData(BaseModel):
    message: str
    submissionId: str


class ReceivedSubmissionEnvelope(BaseModel):
    success: Literal[True]
    data: ReceivedSubmissionData
    meta: Meta


class UpdatedLeadData(BaseModel):
    leadId: str
    leadsUpdated: int
    message: str


class UpdatedLeadEnvelope(BaseModel):
    success: Literal[True]
    data: UpdatedLeadData
    meta: Meta


class CheckResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    success: Literal[True]


class ImportColumn(BaseModel):
    column: str
    field: str | None


class RejectedRow(BaseModel):
    row: int
    column: str | None
    field: str | None
    value: str | None
    message: str


class ImportData(BaseModel):
    message: str
    format: Literal["csv", "xlsx"]
    sheet: str | None
    rows: int
    created: int
    duplicates: int
    invalid: int
    columns: list[ImportColumn]
    customColumns: list[str]
    rejectedRows: list[RejectedRow]


class ImportEnvelope(BaseModel):
    success: Literal[True]
    data: ImportData
    meta: Meta
