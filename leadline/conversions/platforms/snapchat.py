"""Snapchat Conversions API v3: ``POST /v3/{pixel_id}/events?access_token=...``, ``data[]``
one event per conversion (the shape Meta's Conversions API uses).

An event carries ``event_name`` (Snap's standard names, ``SIGN_UP``, ``PURCHASE``, ...),
``event_time`` in seconds, ``event_id`` (the conversion's key, Snap's dedupe key),
``action_source`` (``OFFLINE`` by default: a pipeline outcome happens in the CRM, not on the
site), ``user_data`` with ``sc_click_id`` (the ``ScCid`` click, as captured), the email
trimmed and lowercased and the phone as digits with its country code (no ``+``, no leading
``00`` or ``0``), each SHA-256 hashed, and ``custom_data.value``/``currency`` for a sale.
Snap takes or refuses the request as a whole.
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

ACTION_SOURCES = ("OFFLINE", "WEB")
_MAX_AGE = timedelta(days=37)
_REFUSED = {"FAILED", "INVALID", "ERROR", "REJECTED"}


class Snapchat:
    name: ClassVar[str] = "snapchat"
    default_base_url: ClassVar[str] = "https://tr.snapchat.com/v3"
    click_fields: ClassVar[tuple[str, ...]] = ("sccid",)
    # Snap matches on hashed email and phone too.
    matches_without_click: ClassVar[bool] = True
    required_consent: ClassVar[tuple[str, ...]] = ("ad_user_data",)
    # Snap's longest swipe-up attribution window is 28 days; older events than 37 days are
    # not attributed.
    click_window: ClassVar[timedelta] = timedelta(days=28)
    max_event_age: ClassVar[timedelta | None] = _MAX_AGE
    max_batch: ClassVar[int] = 2000
    required_settings: ClassVar[tuple[str, ...]] = ("pixel_id",)
    required_credentials: ClassVar[tuple[str, ...]] = ("access_token",)
    default_status_map: ClassVar[Mapping[str, str]] = {
        "qualified": "SIGN_UP",
        "won": "PURCHASE",
    }

    def check(self, settings: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
        _wire.require(settings, credentials, self.required_settings, self.required_credentials)
        pixel = str(settings["pixel_id"]).strip()
        if not pixel.replace("-", "").isalnum():
            raise SettingsRefused(
                "pixel_id", "settings.pixel_id must be the Snap Pixel id from Events Manager"
            )
        source = settings.get("action_source", "OFFLINE")
        if source not in ACTION_SOURCES:
            raise SettingsRefused(
                "action_source",
                f"settings.action_source must be one of {', '.join(ACTION_SOURCES)}",
            )

    def blockers(self, conversion: Conversion, now: datetime) -> list[str]:
        reasons = []
        if not (
            conversion.click_ids.get("sccid")
            or conversion.email
            or conversion.phone_e164
            or (conversion.ip and conversion.user_agent)
        ):
            reasons.append("no_click_id_or_contact")
        if now - conversion.occurred_at > _MAX_AGE:
            reasons.append("event_too_old")
        return reasons

    def event(self, conversion: Conversion, action_source: str) -> dict[str, Any]:
        user: dict[str, Any] = {"external_id": [normalise.sha256_hex(conversion.lead_id)]}
        if conversion.click_ids.get("sccid"):
            user["sc_click_id"] = conversion.click_ids["sccid"]
        if conversion.email:
            user["em"] = [normalise.hashed(normalise.normal_email(conversion.email))]
        if conversion.phone_e164:
            user["ph"] = [normalise.hashed(normalise.phone_digits(conversion.phone_e164))]
        if conversion.ip:
            user["client_ip_address"] = conversion.ip
        if conversion.user_agent:
            user["client_user_agent"] = conversion.user_agent
        event: dict[str, Any] = {
            "event_name": conversion.event_name,
            "event_time": _wire.unix_seconds(conversion.occurred_at),
            "event_id": conversion.key,
            "action_source": action_source,
            "user_data": user,
        }
        if action_source == "WEB" and conversion.page_url:
            event["event_source_url"] = conversion.page_url
        if conversion.value is not None:
            custom: dict[str, Any] = {"value": _wire.money(conversion.value)}
            if conversion.currency:
                custom["currency"] = conversion.currency.upper()
            event["custom_data"] = custom
        return event

    def _url(self, destination: Destination, path: str) -> str:
        pixel = str(destination.settings["pixel_id"]).strip()
        return destination.base_url.rstrip("/") + f"/{pixel}/{path}"

    def _params(self, destination: Destination) -> dict[str, str]:
        return {"access_token": destination.credentials["access_token"]}

    async def send(
        self, client: httpx.AsyncClient, destination: Destination, batch: Sequence[Conversion]
    ) -> list[Outcome]:
        source = str(destination.settings.get("action_source", "OFFLINE"))
        try:
            response = await client.post(
                self._url(destination, "events"),
                params=self._params(destination),
                json={"data": [self.event(c, source) for c in batch]},
                timeout=_wire.TIMEOUT,
            )
        except httpx.HTTPError as exc:
            return _replies.every(batch, _replies.lost(exc))
        body = _replies.body_of(response)
        status, reason = _status_of(body)
        if not 200 <= response.status_code < 300:
            return _replies.every(batch, _replies.http_failure(response, status, reason))
        if status is not None and status.upper() in _REFUSED:
            return _replies.every(batch, _replies.failure(status, reason))
        return [_replies.sent(c.key) for c in batch]

    async def test_connection(self, client: httpx.AsyncClient, destination: Destination) -> str:
        # Snap's validate endpoint checks an event with the real token and records nothing.
        probe = {
            "data": [
                {
                    "event_name": "PAGE_VIEW",
                    "event_time": _wire.unix_seconds(datetime.now(UTC)),
                    "event_id": "leadline-connection-test",
                    "action_source": "OFFLINE",
                    "user_data": {
                        "external_id": [normalise.sha256_hex("leadline-connection-test")]
                    },
                }
            ]
        }
        try:
            response = await client.post(
                self._url(destination, "events/validate"),
                params=self._params(destination),
                json=probe,
                timeout=_wire.TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise SettingsRefused("base_url", f"Snapchat could not be reached: {exc}") from None
        status, reason = _status_of(_replies.body_of(response))
        if not 200 <= response.status_code < 300 or (
            status is not None and status.upper() in _REFUSED
        ):
            raise SettingsRefused(
                "access_token",
                f"Snapchat refused the token for pixel {destination.settings['pixel_id']} "
                f"({status or response.status_code}): {reason or response.reason_phrase}",
            )
        return (
            f"Snapchat validated a test event for pixel {destination.settings['pixel_id']} "
            "(nothing recorded)."
        )


def _status_of(body: Any) -> tuple[str | None, str | None]:
    """Snap's ``status`` and ``reason`` (or ``message``)."""
    if not isinstance(body, dict):
        return None, None
    status = body.get("status") or body.get("request_status")
    reason = body.get("reason") or body.get("message") or body.get("debug_message")
    return (str(status) if status else None), (str(reason) if reason else None)


PLATFORM = Snapchat()
