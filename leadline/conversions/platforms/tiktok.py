"""TikTok Events API 2.0: ``POST event/track/`` (Business API v1.3) with the ``Access-Token``
header, one event per conversion in ``data[]`` of a web (pixel) or offline event set.

The event carries the click (``user.ttclid``), the email and phone normalised and SHA-256
hashed as TikTok documents (email trimmed and lowercased; phone in E.164 with its ``+``), the
lead's id hashed as ``external_id``, and for a sale ``properties.value``/``currency``;
``event_id`` is the conversion's key, so TikTok drops a second copy. TikTok answers HTTP 200
with ``code`` 0 when it took the batch, and a non-zero ``code`` and ``message`` when it did
not (the whole batch)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx

from leadline.conversions.platforms import _replies, _wire, normalise
from leadline.conversions.platforms.base import (
    Conversion,
    Destination,
    Outcome,
    SettingsRefused,
)

EVENT_SOURCES = ("web", "offline")
# TikTok's codes for "too many requests" and for its own failures: worth a retry.
_RETRY_CODES = {40100, 50000, 50002}


class TikTok:
    name: ClassVar[str] = "tiktok"
    default_base_url: ClassVar[str] = "https://business-api.tiktok.com/open_api/v1.3"
    click_fields: ClassVar[tuple[str, ...]] = ("ttclid",)
    # TikTok matches events on hashed email and phone too.
    matches_without_click: ClassVar[bool] = True
    required_consent: ClassVar[tuple[str, ...]] = ("ad_user_data",)
    # TikTok's longest click-through attribution window is 28 days.
    click_window: ClassVar[timedelta] = timedelta(days=28)
    max_event_age: ClassVar[timedelta | None] = None
    max_batch: ClassVar[int] = 1000
    required_settings: ClassVar[tuple[str, ...]] = ("event_source_id", "advertiser_id")
    required_credentials: ClassVar[tuple[str, ...]] = ("access_token",)
    default_status_map: ClassVar[Mapping[str, str]] = {
        "qualified": "Lead",
        "won": "Purchase",
    }

    def check(self, settings: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
        _wire.require(settings, credentials, self.required_settings, self.required_credentials)
        _wire.digits_setting(settings, "advertiser_id")
        source = settings.get("event_source", "web")
        if source not in EVENT_SOURCES:
            raise SettingsRefused(
                "event_source", f"settings.event_source must be one of {', '.join(EVENT_SOURCES)}"
            )
        test_code = settings.get("test_event_code")
        if test_code is not None and not isinstance(test_code, str):
            raise SettingsRefused("test_event_code", "settings.test_event_code must be text")

    def blockers(self, conversion: Conversion, now: datetime) -> list[str]:
        if not (conversion.click_ids.get("ttclid") or conversion.email or conversion.phone_e164):
            return ["no_click_id_or_contact"]
        return []

    def event(self, conversion: Conversion) -> dict[str, Any]:
        user: dict[str, Any] = {"external_id": normalise.sha256_hex(conversion.lead_id)}
        if conversion.click_ids.get("ttclid"):
            user["ttclid"] = conversion.click_ids["ttclid"]
        if conversion.click_ids.get("ttp"):
            user["ttp"] = conversion.click_ids["ttp"]
        if conversion.email:
            user["email"] = normalise.hashed(normalise.normal_email(conversion.email))
        if conversion.phone_e164:
            user["phone"] = normalise.hashed(normalise.phone_plus_e164(conversion.phone_e164))
        if conversion.ip:
            user["ip"] = conversion.ip
        if conversion.user_agent:
            user["user_agent"] = conversion.user_agent
        event: dict[str, Any] = {
            "event": conversion.event_name,
            "event_time": _wire.unix_seconds(conversion.occurred_at),
            "event_id": conversion.key,
            "user": user,
        }
        if conversion.page_url:
            event["page"] = {"url": conversion.page_url}
        if conversion.value is not None:
            properties: dict[str, Any] = {"value": float(conversion.value)}
            if conversion.currency:
                properties["currency"] = conversion.currency.upper()
            event["properties"] = properties
        return event

    def body(self, destination: Destination, batch: Sequence[Conversion]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event_source": destination.settings.get("event_source", "web"),
            "event_source_id": str(destination.settings["event_source_id"]),
            "data": [self.event(c) for c in batch],
        }
        if destination.settings.get("test_event_code"):
            body["test_event_code"] = destination.settings["test_event_code"]
        return body

    async def send(
        self, client: httpx.AsyncClient, destination: Destination, batch: Sequence[Conversion]
    ) -> list[Outcome]:
        url = destination.base_url.rstrip("/") + "/event/track/"
        try:
            response = await client.post(
                url,
                json=self.body(destination, batch),
                headers={"Access-Token": destination.credentials["access_token"]},
                timeout=_wire.TIMEOUT,
            )
        except httpx.HTTPError as exc:
            return _replies.every(batch, _replies.lost(exc))
        body = _replies.body_of(response)
        code, message = _code_message(body)
        if response.status_code != 200:
            return _replies.every(batch, _replies.http_failure(response, code, message))
        if code == "0":
            return [_replies.sent(c.key) for c in batch]
        if code is None:
            return _replies.every(
                batch,
                _replies.failure("unreadable_answer", "TikTok's answer had no code", retry=True),
            )
        retry = code.isdigit() and int(code) in _RETRY_CODES
        wait = _replies.retry_after(response) if retry else None
        return _replies.every(batch, _replies.failure(code, message, retry=retry, retry_after=wait))

    async def test_connection(self, client: httpx.AsyncClient, destination: Destination) -> str:
        pixel = str(destination.settings["event_source_id"])
        url = destination.base_url.rstrip("/") + "/pixel/list/"
        try:
            response = await client.get(
                url,
                params={"advertiser_id": str(destination.settings["advertiser_id"]), "code": pixel},
                headers={"Access-Token": destination.credentials["access_token"]},
                timeout=_wire.TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise SettingsRefused("base_url", f"TikTok could not be reached: {exc}") from None
        body = _replies.body_of(response)
        code, message = _code_message(body)
        if response.status_code != 200 or code != "0":
            raise SettingsRefused(
                "access_token",
                f"TikTok refused the access token ({code or response.status_code}): "
                f"{message or response.reason_phrase}",
            )
        data = body.get("data") if isinstance(body, dict) else None
        pixels = data.get("pixels") if isinstance(data, dict) else None
        codes = {str(p.get("pixel_code")) for p in pixels or [] if isinstance(p, dict)}
        if destination.settings.get("event_source", "web") == "web" and pixel not in codes:
            raise SettingsRefused(
                "event_source_id",
                f"TikTok knows no pixel {pixel} in advertiser "
                f"{destination.settings['advertiser_id']}",
            )
        return (
            f"TikTok accepted the access token for advertiser "
            f"{destination.settings['advertiser_id']} and event set {pixel}."
        )


def _code_message(body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, dict) or body.get("code") is None:
        return None, None
    message = body.get("message")
    return str(body["code"]), (str(message) if message else None)


PLATFORM = TikTok()
