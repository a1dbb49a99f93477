"""Lead input models (domain names), shared by every surface that writes leads."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    model_validator,
)

from leadline.kit.urls import parse_url
from leadline.models.attribution import CLICK_ID_FIELDS, CONSENT_FIELDS, UTM_FIELDS


class LeadStatus(StrEnum):
    OPEN = "open"
    QUALIFIED = "qualified"
    WON = "won"
    LOST = "lost"


class LeadSource(StrEnum):
    INBOUND = "inbound"
    GTM = "gtm"
    API = "api"
    MANUAL = "manual"
    WORDPRESS = "wordpress"
    IMPORT = "import"
    # A contact who gave an email or phone in the inbox.
    CHAT = "chat"


# Old clients say "win" where the current API says "won".
STATUS_ALIASES = {"win": LeadStatus.WON}


def parse_status(value: Any) -> Any:
    if isinstance(value, str):
        lowered = value.strip().lower()
        return STATUS_ALIASES.get(lowered, lowered)
    return value


def _consent(value: Any) -> Any:
    """Consent flags arrive as booleans or as Consent Mode words."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"granted", "true", "yes", "1"}:
            return True
        if lowered in {"denied", "false", "no", "0"}:
            return False
        raise ValueError("must be true, false, 'granted' or 'denied'")
    return value


def _custom(value: Any) -> Any:
    """``custom`` is kept as a string; objects and arrays are stored as their JSON text."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def _money(value: Any) -> Any:
    """Numbers, or numeric strings (``"1500.50"``); finite, at most 14 digits before the point."""
    if value is None or isinstance(value, bool):
        return value if value is None else _reject_bool()
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("must be a number or a numeric string") from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if abs(amount) >= Decimal("1e14"):
        raise ValueError("is too large")
    return amount.quantize(Decimal("0.0001"))


def _reject_bool() -> Any:
    raise ValueError("must be a number or a numeric string, not a boolean")


Consent = Annotated[bool | None, BeforeValidator(_consent)]
Money = Annotated[Decimal | None, BeforeValidator(_money)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=512)]
ClickId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=512)]
LongText = Annotated[str, StringConstraints(max_length=65_536)]


def _parses(value: str) -> str:
    """A URL (or a path) whose host or port does not parse is refused, not kept for every
    reader of it to stumble on (``https://x:99999/``, ``https://[::1/``)."""
    if parse_url(value) is None:
        raise ValueError("does not parse as a URL")
    return value


Url = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2048), AfterValidator(_parses)
]
Website = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=512), AfterValidator(_parses)
]


def _reject_nul(data: Any) -> Any:
    """Text with NUL characters cannot be stored (PostgreSQL refuses them); say so up front."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str) and "\x00" in value:
                raise ValueError(f"{key} contains a NUL character")
    return data


class _LeadInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return _reject_nul(data)


class _Landing(_LeadInput):
    website: Website | None = None
    path: Url | None = None


# The click IDs, campaign tags and consent flags come from their one list each.
if TYPE_CHECKING:
    LeadAttribution = _Landing
else:
    LeadAttribution = create_model(
        "LeadAttribution",
        __base__=_Landing,
        __doc__="Where a lead came from: landing page, click IDs, campaign tags, consent.",
        **{name: (ClickId | None, None) for name in CLICK_ID_FIELDS},
        **{name: (ShortText | None, None) for name in UTM_FIELDS},
        **{name: (Consent, None) for name in CONSENT_FIELDS},
    )


class LeadCreate(LeadAttribution):
    name: ShortText | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    custom: Annotated[LongText | None, BeforeValidator(_custom)] = None
    note: LongText | None = None
    visit_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    value: Money = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] | None = None
    conversion_name: ShortText | None = None
    google_ads_campaign_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    google_ads_campaign_name: ShortText | None = None
    google_ads_ad_group_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    google_ads_ad_group_name: ShortText | None = None
    google_ads_ad_id: Annotated[str, StringConstraints(max_length=64)] | None = None


class LeadUpdate(_LeadInput):
    """A change to one lead (or, where allowed, every lead an email or phone matches)."""

    id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    status: Annotated[LeadStatus | None, BeforeValidator(parse_status)] = None
    value: Money = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] | None = None
    note: LongText | None = None
    loss_reason: LongText | None = Field(default=None)
