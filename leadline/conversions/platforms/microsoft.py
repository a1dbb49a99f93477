"""Microsoft Advertising: offline conversions by ``msclkid`` through the Campaign Management
service's ``ApplyOfflineConversions`` (its JSON form, ``POST OfflineConversions/Apply``).

Each conversion names an offline conversion goal (``ConversionName``, the status map's value),
the click, the time in UTC and, for a sale, the value and currency. Microsoft ignores a second
upload with the same click and time, so a re-sent status never counts twice; ``key`` is not
sent (the API has no field for it). Per-row problems come back as ``PartialErrors`` with the
row's ``Index``; a refused request as an ``ApiFaultDetail`` or ``AdApiFaultDetail``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx

from leadline.conversions.platforms import _replies, _wire
from leadline.conversions.platforms.base import (
    Conversion,
    Destination,
    Outcome,
    SettingsRefused,
)

SIGN_IN_URL = "https://login.microsoftonline.com/common/oauth2/v2.0/token"
SCOPE = "https://ads.microsoft.com/msads.manage offline_access"
# Campaign Management error codes that mean "too many calls, try later".
_RATE_LIMITED = {"117", "CallRateExceeded"}


class Microsoft:
    name: ClassVar[str] = "microsoft"
    default_base_url: ClassVar[str] = (
        "https://campaign.api.bingads.microsoft.com/CampaignManagement/v13"
    )
    click_fields: ClassVar[tuple[str, ...]] = ("msclkid",)
    matches_without_click: ClassVar[bool] = False
    # UET consent mode is keyed on ad_storage; sending a click with the person's conversion
    # is also a use of their data for ads (ad_user_data).
    required_consent: ClassVar[tuple[str, ...]] = ("ad_storage", "ad_user_data")
    # The goal's window is 30 days by default and at most 90; conversions after 90 days fail.
    click_window: ClassVar[timedelta] = timedelta(days=90)
    max_event_age: ClassVar[timedelta | None] = None
    max_batch: ClassVar[int] = 1000
    required_settings: ClassVar[tuple[str, ...]] = ("customer_id", "account_id")
    required_credentials: ClassVar[tuple[str, ...]] = (
        "developer_token",
        "client_id",
        "refresh_token",
    )
    default_status_map: ClassVar[Mapping[str, str]] = {
        "qualified": "Qualified lead",
        "won": "Purchase",
    }

    def check(self, settings: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
        _wire.require(settings, credentials, self.required_settings, self.required_credentials)
        _wire.digits_setting(settings, "customer_id")
        _wire.digits_setting(settings, "account_id")
        token_url = settings.get("token_url")
        if token_url is not None and (
            not isinstance(token_url, str) or not token_url.startswith(("https://", "http://"))
        ):
            raise SettingsRefused("token_url", "settings.token_url must be an http(s) URL")

    def blockers(self, conversion: Conversion, now: datetime) -> list[str]:
        # A missing msclkid is the feature's reason (click_fields, matches_without_click).
        reasons = []
        if len(conversion.event_name) > 100:
            reasons.append("conversion_name_too_long")
        if conversion.occurred_at > now:
            reasons.append("event_in_future")
        return reasons

    def row(self, conversion: Conversion) -> dict[str, Any]:
        row: dict[str, Any] = {
            "ConversionName": conversion.event_name,
            "ConversionTime": _wire.iso_utc(conversion.occurred_at),
            "MicrosoftClickId": conversion.click_ids.get("msclkid"),
        }
        if conversion.value is not None:
            row["ConversionValue"] = float(conversion.value)
            if conversion.currency:
                row["ConversionCurrencyCode"] = conversion.currency.upper()
        return row

    async def _access_token(
        self, client: httpx.AsyncClient, destination: Destination
    ) -> str | Outcome:
        """A fresh access token from the refresh token, or the outcome of failing to get one."""
        credentials = destination.credentials
        form = {
            "client_id": credentials["client_id"],
            "grant_type": "refresh_token",
            "refresh_token": credentials["refresh_token"],
            "scope": SCOPE,
        }
        if credentials.get("client_secret"):
            form["client_secret"] = credentials["client_secret"]
        token_url = str(destination.settings.get("token_url") or SIGN_IN_URL)
        try:
            response = await client.post(token_url, data=form, timeout=_wire.TIMEOUT)
        except httpx.HTTPError as exc:
            return _replies.lost(exc)
        body = _replies.body_of(response)
        if response.status_code == 200 and isinstance(body, dict) and body.get("access_token"):
            return str(body["access_token"])
        code = message = None
        if isinstance(body, dict):
            code = str(body.get("error") or "") or None
            message = str(body.get("error_description") or "") or None
        failure = _replies.http_failure(response, code, message)
        return failure

    def _headers(self, destination: Destination, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "DeveloperToken": destination.credentials["developer_token"],
            "CustomerId": str(destination.settings["customer_id"]),
            "CustomerAccountId": str(destination.settings["account_id"]),
        }

    async def send(
        self, client: httpx.AsyncClient, destination: Destination, batch: Sequence[Conversion]
    ) -> list[Outcome]:
        token = await self._access_token(client, destination)
        if isinstance(token, Outcome):
            return _replies.every(batch, token)
        url = destination.base_url.rstrip("/") + "/OfflineConversions/Apply"
        try:
            response = await client.post(
                url,
                json={"OfflineConversions": [self.row(c) for c in batch]},
                headers=self._headers(destination, token),
                timeout=_wire.TIMEOUT,
            )
        except httpx.HTTPError as exc:
            return _replies.every(batch, _replies.lost(exc))
        body = _replies.body_of(response)
        if response.status_code != 200:
            return self._fault(response, body, batch)
        by_index: dict[int, Outcome] = {}
        partial = body.get("PartialErrors") if isinstance(body, dict) else None
        for error in partial or []:
            if isinstance(error, dict) and isinstance(error.get("Index"), int):
                by_index.setdefault(error["Index"], _row_failure(error))
        return [
            _replies.keyed(by_index[i], c.key) if i in by_index else _replies.sent(c.key)
            for i, c in enumerate(batch)
        ]

    def _fault(
        self, response: httpx.Response, body: Any, batch: Sequence[Conversion]
    ) -> list[Outcome]:
        """A refused request: per-row ``BatchErrors`` where given, else the first of its
        ``OperationErrors`` (or ``Errors``) for every row."""
        detail = body if isinstance(body, dict) else {}
        by_index: dict[int, Outcome] = {}
        for error in detail.get("BatchErrors") or []:
            if isinstance(error, dict) and isinstance(error.get("Index"), int):
                by_index.setdefault(error["Index"], _row_failure(error))
        errors = [
            e
            for e in (detail.get("OperationErrors") or detail.get("Errors") or [])
            if isinstance(e, dict)
        ]
        first = errors[0] if errors else {}
        whole = _replies.http_failure(
            response, _code_of(first), str(first.get("Message") or "") or None
        )
        if _code_of(first) in _RATE_LIMITED and not whole.retry:
            whole = _replies.failure(whole.code, whole.message, retry=True)
        if by_index and not errors:
            return [
                _replies.keyed(by_index[i], c.key)
                if i in by_index
                else _replies.keyed(_NOT_APPLIED, c.key)
                for i, c in enumerate(batch)
            ]
        return [_replies.keyed(by_index.get(i, whole), c.key) for i, c in enumerate(batch)]

    async def test_connection(self, client: httpx.AsyncClient, destination: Destination) -> str:
        token = await self._access_token(client, destination)
        if isinstance(token, Outcome):
            raise SettingsRefused(
                "refresh_token", f"Microsoft refused the refresh token: {token.message}"
            )
        url = destination.base_url.rstrip("/") + "/ConversionGoals/QueryByIds"
        try:
            response = await client.post(
                url,
                json={"ConversionGoalIds": None, "ConversionGoalTypes": "OfflineConversion"},
                headers=self._headers(destination, token),
                timeout=_wire.TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise SettingsRefused("base_url", f"Microsoft could not be reached: {exc}") from None
        body = _replies.body_of(response)
        if response.status_code != 200 or not isinstance(body, dict):
            errors = (body or {}).get("OperationErrors") if isinstance(body, dict) else None
            first = errors[0] if errors and isinstance(errors[0], dict) else {}
            raise SettingsRefused(
                "credentials",
                f"Microsoft refused the account ({_code_of(first) or response.status_code}): "
                f"{first.get('Message') or response.reason_phrase}",
            )
        goals = [
            str(goal.get("Name"))
            for goal in body.get("ConversionGoals") or []
            if isinstance(goal, dict) and goal.get("Name")
        ]
        named = ", ".join(goals) if goals else "none yet"
        return (
            f"Signed in to Microsoft Advertising account {destination.settings['account_id']}; "
            f"its offline conversion goals: {named}."
        )


def _code_of(error: Mapping[str, Any]) -> str | None:
    code = error.get("ErrorCode") or error.get("Code")
    return None if code is None else str(code)


def _row_failure(error: Mapping[str, Any]) -> Outcome:
    code = _code_of(error)
    message = str(error.get("Message") or error.get("Details") or "") or None
    return _replies.failure(code, message, retry=code in _RATE_LIMITED)


# A row the request did not apply because another row was refused: worth sending again.
_NOT_APPLIED = _replies.failure(
    "batch_refused", "another row of the request was refused", retry=True
)


PLATFORM = Microsoft()
