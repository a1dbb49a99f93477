"""What every ad platform's adapter is: the contract between the conversions feature (which
decides what to send, when, and records the outcome) and one platform's wire format (which
shapes the request, sends it and reads the answer row by row).

An adapter never reads the database and never decides eligibility beyond its own platform's
rules (:meth:`Platform.blockers`); the feature hands it ready :class:`Conversion` values in
batches no larger than :attr:`Platform.max_batch` and records each :class:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Literal, Protocol

import httpx

# The platforms a destination may name, as the API and the CLI spell them.
PLATFORM_NAMES: tuple[str, ...] = (
    "google",
    "meta",
    "microsoft",
    "tiktok",
    "linkedin",
    "reddit",
    "snapchat",
)

# A lead's ``ad_platform`` (leadline.models.attribution.CLICK_PLATFORMS) as a destination's
# platform name.
AD_PLATFORM_OF: dict[str, str] = {
    "googleads": "google",
    "meta": "meta",
    "microsoftads": "microsoft",
    "tiktok": "tiktok",
    "linkedin": "linkedin",
    "reddit": "reddit",
    "snapchat": "snapchat",
}


@dataclass(frozen=True, slots=True)
class Conversion:
    """One outcome of one lead, ready for one destination.

    ``key`` is the dedupe key the platform is given (Google's ``order_id``, Meta's
    ``event_id``, ...): the same lead reaching the same status again gives the same key, so a
    re-sent status never counts twice. Personal data is as stored (normalising and hashing
    are the adapter's, as its platform documents them)."""

    key: str
    lead_id: str
    event_name: str
    occurred_at: datetime
    value: Decimal | None = None
    currency: str | None = None
    # The lead's click IDs by their field names (leadline.models.attribution.CLICK_ID_FIELDS:
    # gclid, gbraid, wbraid, fbc, fbp, msclkid, ttclid, li_fat_id, rdt_cid, sccid, ...), only
    # those it carries.
    click_ids: Mapping[str, str] = field(default_factory=dict)
    email: str | None = None
    phone_e164: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    # Consent Mode flags as stored (True granted, False denied, None unknown):
    # ad_storage, ad_user_data, ad_personalization, analytics_storage.
    consent: Mapping[str, bool | None] = field(default_factory=dict)
    # From the visit that brought the lead, when known.
    ip: str | None = None
    user_agent: str | None = None
    page_url: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class Destination:
    """A configured destination as an adapter sees it: its decrypted credentials, its
    settings, and where the platform's API is (``base_url``: the platform's own by default,
    a local server in tests)."""

    id: str
    platform: str
    settings: Mapping[str, Any]
    credentials: Mapping[str, str]
    base_url: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the platform said about one conversion. ``retry`` marks a failure worth trying
    again later (rate limited, server error, network); ``code`` and ``message`` are the
    platform's own where it gave them."""

    key: str
    state: Literal["sent", "failed"]
    code: str | None = None
    message: str | None = None
    retry: bool = False
    retry_after: float | None = None


class SettingsRefused(ValueError):
    """A destination's settings or credentials do not fit the platform; the message names
    the field and what is wrong (the feature turns it into a 400)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name
        self.message = message


class Platform(Protocol):
    """One ad platform's adapter."""

    # Its name (one of PLATFORM_NAMES) and the public base URL of its API.
    name: ClassVar[str]
    default_base_url: ClassVar[str]
    # The click-ID fields (CLICK_ID_FIELDS) it can attribute a conversion with; a conversion
    # without any of them can still go where the platform matches on user data alone
    # (``matches_without_click``).
    click_fields: ClassVar[tuple[str, ...]]
    matches_without_click: ClassVar[bool]
    # The Consent Mode flags that must be granted (True) before anything is sent.
    required_consent: ClassVar[tuple[str, ...]]
    # How long after the click a conversion is accepted, and (Meta) how old an event may be
    # when sent; None: no such rule.
    click_window: ClassVar[timedelta]
    max_event_age: ClassVar[timedelta | None]
    # The most conversions one request may carry.
    max_batch: ClassVar[int]
    # The settings and credentials a destination must have (names), and the event or
    # conversion-action names used when the destination gives no status map.
    required_settings: ClassVar[tuple[str, ...]]
    required_credentials: ClassVar[tuple[str, ...]]
    default_status_map: ClassVar[Mapping[str, str]]

    def check(self, settings: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
        """Raise :class:`SettingsRefused` unless ``settings`` and ``credentials`` fit."""

    def blockers(self, conversion: Conversion, now: datetime) -> list[str]:
        """Every reason of this platform's own that ``conversion`` cannot be sent (a missing
        required user field, an event too old): snake_case reason codes, empty when none.
        Consent, click windows and destination state are the feature's."""

    async def send(
        self, client: httpx.AsyncClient, destination: Destination, batch: Sequence[Conversion]
    ) -> list[Outcome]:
        """Upload ``batch`` (at most ``max_batch``) and say what happened to each, by key.
        A request that fails as a whole gives every conversion the same outcome; network
        errors are outcomes with ``retry`` set, never exceptions."""

    async def test_connection(self, client: httpx.AsyncClient, destination: Destination) -> str:
        """Ask the platform whether the credentials work, without uploading a conversion;
        a sentence saying what was checked. Raises :class:`SettingsRefused` when they do not."""
