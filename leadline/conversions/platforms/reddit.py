"""Reddit Conversions API (v2.0): ``POST conversions/events/{ad_account_id}`` with a bearer
conversion access token, ``events[]`` one per conversion.

An event carries ``event_at`` (ISO 8601, UTC), ``event_type.tracking_type`` (Reddit's
standard ``Lead``, ``Purchase``, ... or ``Custom`` with ``custom_event_name``), the click
(``click_id`` = ``rdt_cid``), ``event_metadata.conversion_id`` (the conversion's key, Reddit's
dedupe key) with ``value_decimal``/``currency`` for a sale, and the email trimmed, lowercased
and SHA-256 hashed. Reddit takes or refuses the request as a whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from leadline.conversions.platforms import _replies, _wire, normalise
from leadline.conversions.platforms.base import (
    Conversion,
    Destination,
    Outcome,
    SettingsRefused,
)

# Reddit's standard tracking types; any other event name is sent as Custom.
TRACKING_TYPES = (
    "PageVisit",
    "ViewContent",
    "Search",
    "AddToCart",
    "AddToWishlist",
    "Purchase",
    "Lead",
    "SignUp",
)
_MAX_AGE = timedelta(days=7)


class Reddit:
    name: ClassVar[str] = "reddit"
    default_base_url: ClassVar[str] = "https://ads-api.reddit.com/api/v2.0"
    click_fields: ClassVar[tuple[str, ...]] = ("rdt_cid",)
    # Reddit matches on the hashed email too.
    matches_without_click: ClassVar[bool] = True
    required_consent: ClassVar[tuple[str, ...]] = ("ad_user_data",)
    # Reddit's longest click-through attribution window is 28 days; it takes events up to
    # 7 days after they happened.
    click_window: ClassVar[timedelta] = timedelta(days=28)
    max_event_age: ClassVar[timedelta | None] = _MAX_AGE
    max_batch: ClassVar[int] = 1000
    required_settings: ClassVar[tuple[str, ...]] = ("ad_account_id",)
    required_credentials: ClassVar[tuple[str, ...]] = ("access_token",)
    default_status_map: ClassVar[Mapping[str, str]] = {
        "qualified": "Lead",
        "won": "Purchase",
    }

    def check(self, settings: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
        _wire.require(settings, credentials, self.required_settings, self.required_credentials)
        account = str(settings["ad_account_id"]).strip()
        if not account.replace("_", "").isalnum():
            raise SettingsRefused(
                "ad_account_id", "settings.ad_account_id must be the id shown in Reddit Ads"
            )
        if "test_mode" in settings and not isinstance(settings["test_mode"], bool):
            raise SettingsRefused("test_mode", "settings.test_mode must be true or false")

    def blockers(self, conversion: Conversion, now: datetime) -> list[str]:
        reasons = []
        if not (conversion.click_ids.get("rdt_cid") or conversion.email):
            reasons.append("no_click_id_or_contact")
        if now - conversion.occurred_at > _MAX_AGE:
            reasons.append("event_too_old")
        return reasons

    def event(self, conversion: Conversion) -> dict[str, Any]:
        if conversion.event_name in TRACKING_TYPES:
            event_type: dict[str, str] = {"tracking_type": conversion.event_name}
        else:
            event_type = {"tracking_type": "Custom", "custom_event_name": conversion.event_name}
        metadata: dict[str, Any] = {"conversion_id": conversion.key}
        if conversion.value is not None:
            metadata["value_decimal"] = float(conversion.value)
            if conversion.currency:
                metadata["currency"] = conversion.currency.upper()
        user: dict[str, Any] = {"external_id": normalise.sha256_hex(conversion.lead_id)}
        if conversion.email:
            user["email"] = normalise.hashed(normalise.normal_email(conversion.email))
        event: dict[str, Any] = {
            "event_at": _wire.iso_utc(conversion.occurred_at),
            "event_type": event_type,
            "event_metadata": metadata,
            "user": user,
        }
        if conversion.click_ids.get("rdt_cid"):
            event["click_id"] = conversion.click_ids["rdt_cid"]
        return event

    def _url(self, destination: Destination) -> str:
        account = str(destination.settings["ad_account_id"]).strip()
        return destination.base_url.rstrip("/") + f"/conversions/events/{account}"

    def _headers(self, destination: Destination) -> dict[str, str]:
        return {"Authorization": f"Bearer {destination.credentials['access_token']}"}

    async def send(
        self, client: httpx.AsyncClient, destination: Destination, batch: Sequence[Conversion]
    ) -> list[Outcome]:
        body = {
            "test_mode": bool(destination.settings.get("test_mode", False)),
            "events": [self.event(c) for c in batch],
        }
        try:
            response = await client.post(
                self._url(destination),
                json=body,
                headers=self._headers(destination),
                timeout=_wire.TIMEOUT,
            )
        except httpx.HTTPError as exc:
            return _replies.every(batch, _replies.lost(exc))
        if 200 <= response.status_code < 300:
            return [_replies.sent(c.key) for c in batch]
        code, message = _error_of(_replies.body_of(response))
        return _replies.every(batch, _replies.http_failure(response, code, message))

    async def test_connection(self, client: httpx.AsyncClient, destination: Destination) -> str:
        # A test-mode event is checked and shown in Events Manager's test view, never counted.
        probe = {
            "test_mode": True,
            "events": [
                {
                    "event_at": _wire.iso_utc(datetime.now(UTC)),
                    "event_type": {"tracking_type": "PageVisit"},
                    "event_metadata": {"conversion_id": "leadline-connection-test"},
                    "user": {"external_id": normalise.sha256_hex("leadline-connection-test")},
                }
            ],
        }
        try:
            response = await client.post(
                self._url(destination),
                json=probe,
                headers=self._headers(destination),
                timeout=_wire.TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise SettingsRefused("base_url", f"Reddit could not be reached: {exc}") from None
        if not 200 <= response.status_code < 300:
            code, message = _error_of(_replies.body_of(response))
            raise SettingsRefused(
                "access_token",
                f"Reddit refused a test event for ad account "
                f"{destination.settings['ad_account_id']} ({code or response.status_code}): "
                f"{message or response.reason_phrase}",
            )
        return (
            f"Reddit accepted a test-mode event for ad account "
            f"{destination.settings['ad_account_id']} (not counted as a conversion)."
        )


def _error_of(body: Any) -> tuple[str | None, str | None]:
    """Reddit's error: ``{"message": ...}`` or ``{"error": {"code", "message"}}``."""
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message") or body.get("message")
    else:
        code = body.get("code")
        message = body.get("message") or (error if isinstance(error, str) else None)
    return (str(code) if code is not None else None), (str(message) if message else None)


PLATFORM = Reddit()
