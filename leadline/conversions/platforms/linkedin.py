"""LinkedIn Conversions API: ``POST /rest/conversionEvents`` as a Rest.li ``BATCH_CREATE``
(``X-RestLi-Method``), one element per conversion, the API version in ``LinkedIn-Version``.

An element names the conversion rule (``urn:lla:llaPartnerConversion:<id>``), the time in
milliseconds, the value for a sale, the person by ``LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID``
(the ``li_fat_id`` click, as captured) and ``SHA256_EMAIL`` (trimmed, lowercased, hashed),
and ``eventId`` (the conversion's key, LinkedIn's dedupe key). The answer says per element
whether it was created (status 201) or why not.
"""

from __future__ import annotations

import re
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

RULE_URN = "urn:lla:llaPartnerConversion:"
DEFAULT_VERSION = "202609"
_VERSION = re.compile(r"^20\d{4}$")
_MAX_AGE = timedelta(days=90)


def rule_urn(reference: object) -> str | None:
    """A conversion rule's URN from its id or URN; None when it is neither."""
    text = str(reference).strip()
    if text.isdigit():
        return RULE_URN + text
    if text.startswith(RULE_URN) and text[len(RULE_URN) :].isdigit():
        return text
    return None


class LinkedIn:
    name: ClassVar[str] = "linkedin"
    default_base_url: ClassVar[str] = "https://api.linkedin.com/rest"
    click_fields: ClassVar[tuple[str, ...]] = ("li_fat_id",)
    # LinkedIn matches on the hashed email too.
    matches_without_click: ClassVar[bool] = True
    required_consent: ClassVar[tuple[str, ...]] = ("ad_user_data",)
    # An event must reach LinkedIn within 90 days of happening; clicks attribute as long.
    click_window: ClassVar[timedelta] = timedelta(days=90)
    max_event_age: ClassVar[timedelta | None] = _MAX_AGE
    max_batch: ClassVar[int] = 5000
    required_settings: ClassVar[tuple[str, ...]] = ("ad_account_id", "conversions")
    required_credentials: ClassVar[tuple[str, ...]] = ("access_token",)
    # Names looked up in settings.conversions (name -> conversion rule id).
    default_status_map: ClassVar[Mapping[str, str]] = {
        "qualified": "qualified_lead",
        "won": "purchase",
    }

    def check(self, settings: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
        _wire.require(settings, credentials, self.required_settings, self.required_credentials)
        _wire.digits_setting(settings, "ad_account_id")
        conversions = settings["conversions"]
        if not isinstance(conversions, Mapping) or not conversions:
            raise SettingsRefused(
                "conversions",
                "settings.conversions must map event names to LinkedIn conversion rule ids",
            )
        for name, reference in conversions.items():
            if rule_urn(reference) is None:
                raise SettingsRefused(
                    "conversions",
                    f"settings.conversions.{name} must be a conversion rule id (digits) or "
                    f"{RULE_URN}<id>",
                )
        version = settings.get("api_version", DEFAULT_VERSION)
        if not isinstance(version, str) or not _VERSION.match(version):
            raise SettingsRefused("api_version", "settings.api_version must look like 202609")

    def blockers(self, conversion: Conversion, now: datetime) -> list[str]:
        reasons = []
        if not (
            conversion.click_ids.get("li_fat_id")
            or conversion.email
            or (conversion.first_name and conversion.last_name)
        ):
            reasons.append("no_click_id_or_contact")
        if now - conversion.occurred_at > _MAX_AGE:
            reasons.append("event_too_old")
        return reasons

    def conversion_urn(self, settings: Mapping[str, Any], event_name: str) -> str | None:
        direct = rule_urn(event_name)
        if direct is not None:
            return direct
        conversions = settings.get("conversions")
        if isinstance(conversions, Mapping) and event_name in conversions:
            return rule_urn(conversions[event_name])
        return None

    def element(self, conversion: Conversion, urn: str) -> dict[str, Any]:
        user_ids = []
        if conversion.email:
            email = normalise.hashed(normalise.normal_email(conversion.email))
            user_ids.append({"idType": "SHA256_EMAIL", "idValue": email})
        if conversion.click_ids.get("li_fat_id"):
            user_ids.append(
                {
                    "idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID",
                    "idValue": conversion.click_ids["li_fat_id"],
                }
            )
        user: dict[str, Any] = {"userIds": user_ids}
        if conversion.first_name and conversion.last_name:
            info: dict[str, str] = {
                "firstName": conversion.first_name,
                "lastName": conversion.last_name,
            }
            if conversion.country:
                info["countryCode"] = conversion.country.upper()
            user["userInfo"] = info
        element: dict[str, Any] = {
            "conversion": urn,
            "conversionHappenedAt": _wire.unix_millis(conversion.occurred_at),
            "user": user,
            "eventId": conversion.key,
        }
        if conversion.value is not None and conversion.currency:
            element["conversionValue"] = {
                "currencyCode": conversion.currency.upper(),
                "amount": _wire.money(conversion.value),
            }
        return element

    def _headers(self, destination: Destination) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {destination.credentials['access_token']}",
            "LinkedIn-Version": str(destination.settings.get("api_version") or DEFAULT_VERSION),
            "X-Restli-Protocol-Version": "2.0.0",
        }

    async def send(
        self, client: httpx.AsyncClient, destination: Destination, batch: Sequence[Conversion]
    ) -> list[Outcome]:
        outcomes: dict[str, Outcome] = {}
        sendable: list[tuple[Conversion, str]] = []
        for conversion in batch:
            urn = self.conversion_urn(destination.settings, conversion.event_name)
            if urn is None:
                outcomes[conversion.key] = _replies.failure(
                    "unknown_conversion",
                    f"no LinkedIn conversion rule for {conversion.event_name!r} "
                    "in settings.conversions",
                )
            else:
                sendable.append((conversion, urn))
        if sendable:
            sent_rows = [c for c, _ in sendable]
            for conversion, outcome in zip(
                sent_rows, await self._post(client, destination, sendable), strict=True
            ):
                outcomes[conversion.key] = outcome
        return [_replies.keyed(outcomes[c.key], c.key) for c in batch]

    async def _post(
        self,
        client: httpx.AsyncClient,
        destination: Destination,
        rows: Sequence[tuple[Conversion, str]],
    ) -> list[Outcome]:
        url = destination.base_url.rstrip("/") + "/conversionEvents"
        conversions = [c for c, _ in rows]
        try:
            response = await client.post(
                url,
                json={"elements": [self.element(c, urn) for c, urn in rows]},
                headers={**self._headers(destination), "X-RestLi-Method": "BATCH_CREATE"},
                timeout=_wire.TIMEOUT,
            )
        except httpx.HTTPError as exc:
            return _replies.every(conversions, _replies.lost(exc))
        body = _replies.body_of(response)
        if not 200 <= response.status_code < 300:
            code, message = _error_of(body)
            return _replies.every(conversions, _replies.http_failure(response, code, message))
        elements = body.get("elements") if isinstance(body, dict) else None
        if not isinstance(elements, list) or len(elements) != len(rows):
            # A batch create answers one element per element sent; anything else is read as
            # all created only when the request as a whole succeeded without a body.
            if elements is None:
                return [_replies.sent(c.key) for c in conversions]
            return _replies.every(
                conversions,
                _replies.failure(
                    "unreadable_answer",
                    "LinkedIn answered a different number of elements",
                    retry=True,
                ),
            )
        outcomes = []
        for conversion, element in zip(conversions, elements, strict=True):
            status = element.get("status") if isinstance(element, dict) else None
            if isinstance(status, int) and 200 <= status < 300:
                outcomes.append(_replies.sent(conversion.key))
                continue
            code, message = _error_of(element.get("error") if isinstance(element, dict) else None)
            retry = isinstance(status, int) and (status == 429 or status >= 500)
            outcomes.append(
                _replies.failure(code or f"http_{status}", message or "not created", retry=retry)
            )
        return outcomes

    async def test_connection(self, client: httpx.AsyncClient, destination: Destination) -> str:
        account = str(destination.settings["ad_account_id"])
        url = destination.base_url.rstrip("/") + f"/adAccounts/{account}"
        try:
            response = await client.get(
                url, headers=self._headers(destination), timeout=_wire.TIMEOUT
            )
        except httpx.HTTPError as exc:
            raise SettingsRefused("base_url", f"LinkedIn could not be reached: {exc}") from None
        body = _replies.body_of(response)
        if response.status_code != 200:
            code, message = _error_of(body)
            raise SettingsRefused(
                "access_token",
                f"LinkedIn refused access to ad account {account} "
                f"({code or response.status_code}): {message or response.reason_phrase}",
            )
        name = body.get("name") if isinstance(body, dict) else None
        named = f" ({name})" if name else ""
        return f"LinkedIn gave access to ad account {account}{named}."


def _error_of(body: Any) -> tuple[str | None, str | None]:
    """LinkedIn's error code (``code``, else ``serviceErrorCode``) and message."""
    if not isinstance(body, dict):
        return None, None
    code = body.get("code") or body.get("serviceErrorCode")
    message = body.get("message")
    return (str(code) if code is not None else None), (str(message) if message else None)


PLATFORM = LinkedIn()
