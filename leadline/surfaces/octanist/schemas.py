"""Octanist request and response shapes: field names as Octanist clients send and expect them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from leadline.kit.reporting import DAY_SCHEMA
from leadline.leads.listing import SEARCH_COUNT_LIMIT
from leadline.leads.schemas import LeadCreate, LeadStatus, LeadUpdate, parse_status
from leadline.models.attribution import CLICK_ID_FIELDS, CONSENT_FIELDS, UTM_FIELDS

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
    "visit_id": "sessionId",
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
    *CLICK_ID_FIELDS,
    *UTM_FIELDS,
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


def _custom_any_json(schema: dict[str, Any]) -> None:
    """``custom`` is read as a string, but an object or array is taken too (kept as its JSON
    text); the document says so, or a client sending an object would be told it may not."""
    custom = schema["properties"]["custom"]
    custom["anyOf"] = [*custom["anyOf"], {"type": "object"}, {"type": "array"}]


class OctanistLeadCreate(LeadCreate):
    """POST /api/leads body. ``custom`` may be a string, object or array."""

    model_config = ConfigDict(
        extra="ignore",
        alias_generator=lambda name: octanist_name(name),
        populate_by_name=True,
        json_schema_extra=_custom_any_json,
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


def _dates_of_custom(schema: dict[str, Any]) -> None:
    """startDate and endDate are dates, both required, when period is custom; ignored
    otherwise (docs/api/octanist-stats.md)."""
    day = {"type": "string", **DAY_SCHEMA}
    schema["if"] = {"properties": {"period": {"const": "custom"}}, "required": ["period"]}
    schema["then"] = {
        "properties": {"startDate": day, "endDate": day},
        "required": ["startDate", "endDate"],
    }


class StatsRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore", populate_by_name=True, json_schema_extra=_dates_of_custom
    )

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
    totalCapped: bool | None = Field(
        default=None,
        description=(
            "Leadline adds it, only as true, when counting stopped: a lead search counts its "
            f"matches up to {SEARCH_COUNT_LIMIT:,} (or one past the page asked for, if "
            "further). Then at least `total` leads match, `totalPages` counts the pages of "
            "those, and `hasMore` is still exact: page on while it is true."
        ),
    )


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


# The lead's fields that are not text.
_LEAD_FIELD_TYPES: dict[str, Any] = {
    "status": Literal["open", "qualified", "won", "lost"] | None,
    "value": float | None,
    **dict.fromkeys(CONSENT_FIELDS, bool | None),
}


class _LeadOutBase(BaseModel):
    model_config = ConfigDict(extra="forbid")


if TYPE_CHECKING:
    LeadOut = _LeadOutBase
else:
    LeadOut = create_model(
        "LeadOut",
        __base__=_LeadOutBase,
        __doc__="Every field may be absent when ``fields`` selects a subset.",
        **{name: (_LEAD_FIELD_TYPES.get(name, str | None), None) for name in LEAD_FIELDS},
    )


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
