"""What the tracker sends, decoded and checked by msgspec on the hot path."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

Key = Annotated[str, Meta(min_length=1, max_length=64)]
Text = Annotated[str, Meta(max_length=2048)]
Short = Annotated[str, Meta(max_length=64)]
MAX_BATCH = 100
EMPTY_DATA = msgspec.Raw(b"{}")


# A consent flag as a boolean or in Consent Mode's own words (what gtag and most consent
# platforms hand a page), as the lead API takes it; any other string is refused when decoded.
# identity.consent_flags turns the words into booleans.
Flag = bool | Literal["granted", "denied"] | None


class Consent(Struct, forbid_unknown_fields=False):
    mode: Short | None = None
    ad_storage: Flag = None
    ad_user_data: Flag = None
    ad_personalization: Flag = None
    analytics_storage: Flag = None
    source: Annotated[str, Meta(max_length=16)] | None = None


class GoogleIds(Struct, forbid_unknown_fields=False):
    clientId: Short | None = None
    sessionId: Short | None = None


class VisitStart(Struct, forbid_unknown_fields=False):
    siteKey: Key
    url: Annotated[str, Meta(max_length=8192)] = ""
    referrer: Text = ""
    title: Annotated[str, Meta(max_length=512)] = ""
    screen: Annotated[str, Meta(max_length=16)] | None = None
    language: Annotated[str, Meta(max_length=35)] | None = None
    timezone: Short | None = None
    consent: Consent | None = None
    visitorId: Short | None = None
    sessionId: Short | None = None
    ga: GoogleIds | None = None
    fbp: Annotated[str, Meta(max_length=512)] | None = None
    dnt: bool = False
    gpc: bool = False
    # Lowercase hex SHA-256 the tracker computes with consent when the page turns it on.
    fingerprintId: Annotated[str, Meta(pattern="^[0-9a-f]{64}$")] | None = None


class EventIn(Struct, forbid_unknown_fields=False, kw_only=True):
    type: Annotated[str, Meta(min_length=1, max_length=64)]
    id: Short | None = None
    ts: Annotated[int, Meta(ge=0, le=10**14)] | None = None
    url: Text | None = None
    # Kept as the JSON the browser sent (checked to be an object when the event is prepared):
    # it is stored as it came, so decoding it into Python objects would only be thrown away.
    # A factory, not a default: msgspec cannot write a Raw default into the JSON Schema the
    # OpenAPI document is made from (an absent data stays the same empty object).
    data: msgspec.Raw = msgspec.field(default_factory=EMPTY_DATA.copy)


class SingleEvent(EventIn, kw_only=True):
    siteKey: Key
    sessionId: Key


class EventBatch(Struct, forbid_unknown_fields=False):
    siteKey: Key
    sessionId: Key
    events: Annotated[list[EventIn], Meta(min_length=1, max_length=MAX_BATCH)]


class VisitEnd(Struct, forbid_unknown_fields=False):
    siteKey: Key
    sessionId: Key
    durationMs: Annotated[int, Meta(ge=0, le=10**9)] | None = None
    maxScroll: Annotated[int, Meta(ge=0, le=100)] | None = None
    clicks: Annotated[int, Meta(ge=0, le=10**6)] | None = None
