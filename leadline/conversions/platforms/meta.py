"""Meta Conversions API: server events to a pixel (``POST /{version}/{pixel_id}/events``).

``event_id`` is the conversion's key, so Meta deduplicates a re-sent event (and an event the
pixel already sent with the same name and id). ``fbc`` and ``fbp`` go verbatim; email, phone
and names are normalised and SHA-256 hashed as Meta documents (normalise.py). An event older
than seven days makes Meta refuse the whole request, so such an event is never sent: it is a
blocker, and :meth:`MetaConversions.send` holds it back even if it reaches it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from leadline.conversions.platforms._replies import (
    all_same,
    body_of,
    network_failure,
    retry_after,
)
from leadline.conversions.platforms.base import (
    Conversion,
    Destination,
    Outcome,
    Platform,
    SettingsRefused,
)
from leadline.conversions.platforms.normalise import (
    meta_email,
    meta_hashed,
    meta_name,
    meta_phone,
)

API_VERSION = "v26.0"
ACTION_SOURCES = (
    "email",
    "website",
    "app",
    "phone_call",
    "chat",
    "physical_store",
    "system_generated",
    "business_messaging",
    "other",
)
# Graph API error codes that mean "too many calls": 4 (application), 17 (user), 32 (page),
# 613 (calls within a period), 80004 (ads account); 1 and 2 are Meta's temporary faults.
RATE_LIMITED = frozenset({4, 17, 32, 613, 80004})
TEMPORARY = frozenset({1, 2})


def _event_time(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


class MetaConversions:
    name: ClassVar[str] = "meta"
    default_base_url: ClassVar[str] = "https://graph.facebook.com"
    click_fields: ClassVar[tuple[str, ...]] = ("fbc", "fbp")
    matches_without_click: ClassVar[bool] = True
    # Meta matches on the user's contact data, so sending it needs consent to share user data
    # for advertising (ad_user_data); fbc/fbp exist only where ad cookies were allowed.
    required_consent: ClassVar[tuple[str, ...]] = ("ad_user_data",)
    # The _fbc cookie lives 90 days; Meta's own attribution window is an ad set setting.
    click_window: ClassVar[timedelta] = timedelta(days=90)
    max_event_age: ClassVar[timedelta | None] = timedelta(days=7)
    max_batch: ClassVar[int] = 1000
    required_settings: ClassVar[tuple[str, ...]] = ("pixel_id",)
    required_credentials: ClassVar[tuple[str, ...]] = ("access_token",)
    default_status_map: ClassVar[Mapping[str, str]] = {
        "qualified": "QualifiedLead",
        "won": "Purchase",
    }

    def check(self, settings: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
        pixel = str(settings.get("pixel_id") or "").strip()
        if not pixel.isdigit():
            raise SettingsRefused("pixel_id", "pixel_id must be the pixel's (dataset's) number")
        source = settings.get("action_source", "system_generated")
        if source not in ACTION_SOURCES:
            raise SettingsRefused(
                "action_source", "action_source must be one of " + ", ".join(ACTION_SOURCES)
            )
        for field_name in ("test_event_code", "api_version", "lead_event_source"):
            value = settings.get(field_name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise SettingsRefused(field_name, f"{field_name} must be text")
        token = credentials.get("access_token")
        if not isinstance(token, str) or not token.strip():
            raise SettingsRefused("access_token", "credentials need access_token")

    def blockers(self, conversion: Conversion, now: datetime) -> list[str]:
        reasons = []
        occurred = conversion.occurred_at
        if occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        if self.max_event_age is not None and now - occurred > self.max_event_age:
            reasons.append("event_too_old")
        if not self.user_data(conversion):
            reasons.append("missing_user_data")
        return reasons

    def user_data(self, conversion: Conversion) -> dict[str, Any]:
        """The event's ``user_data``: hashed contact data, click cookies verbatim."""
        data: dict[str, Any] = {}
        for field_name, value in (
            ("em", meta_email(conversion.email)),
            ("ph", meta_phone(conversion.phone_e164)),
            ("fn", meta_name(conversion.first_name)),
            ("ln", meta_name(conversion.last_name)),
        ):
            hashed = meta_hashed(value)
            if hashed:
                data[field_name] = [hashed]
        for field_name in self.click_fields:
            value = conversion.click_ids.get(field_name)
            if value:
                data[field_name] = value
        if conversion.ip:
            data["client_ip_address"] = conversion.ip
        if conversion.user_agent:
            data["client_user_agent"] = conversion.user_agent
        return data

    def server_event(self, conversion: Conversion, settings: Mapping[str, Any]) -> dict[str, Any]:
        """One element of the request's ``data`` array."""
        event: dict[str, Any] = {
            "event_name": conversion.event_name,
            "event_time": _event_time(conversion.occurred_at),
            "event_id": conversion.key,
            "action_source": settings.get("action_source") or "system_generated",
            "user_data": self.user_data(conversion),
        }
        if conversion.page_url:
            event["event_source_url"] = conversion.page_url
        custom: dict[str, Any] = {}
        if conversion.value is not None:
            custom["value"] = float(conversion.value)
            if conversion.currency:
                custom["currency"] = conversion.currency.upper()
        lead_source = settings.get("lead_event_source")
        if lead_source:
            # Meta's CRM integration (Conversion Leads): the CRM that reports the stage.
            custom["event_source"] = "crm"
            custom["lead_event_source"] = str(lead_source)
        if custom:
            event["custom_data"] = custom
        return event

    def _base(self, destination: Destination) -> str:
        return (destination.base_url or self.default_base_url).rstrip("/")

    def _url(self, destination: Destination, tail: str = "") -> str:
        version = destination.settings.get("api_version") or API_VERSION
        pixel = str(destination.settings.get("pixel_id") or "").strip()
        return f"{self._base(destination)}/{version}/{pixel}{tail}"

    async def send(
        self, client: httpx.AsyncClient, destination: Destination, batch: Sequence[Conversion]
    ) -> list[Outcome]:
        now = datetime.now(UTC)
        outcomes: dict[str, Outcome] = {}
        rows = []
        for conversion in batch:
            reasons = self.blockers(conversion, now)
            if "event_too_old" in reasons:
                # One stale event fails Meta's whole request: keep it out of the batch.
                outcomes[conversion.key] = Outcome(
                    key=conversion.key,
                    state="failed",
                    code="event_too_old",
                    message="Meta accepts events up to 7 days old",
                )
            else:
                rows.append(conversion)
        if rows:
            for outcome in await self._post(client, destination, rows):
                outcomes[outcome.key] = outcome
        return [outcomes[c.key] for c in batch]

    async def _post(
        self, client: httpx.AsyncClient, destination: Destination, rows: list[Conversion]
    ) -> list[Outcome]:
        payload: dict[str, Any] = {
            "data": [self.server_event(c, destination.settings) for c in rows],
            "access_token": destination.credentials.get("access_token", ""),
        }
        test_code = destination.settings.get("test_event_code")
        if test_code:
            payload["test_event_code"] = test_code
        try:
            response = await client.post(self._url(destination, "/events"), json=payload)
        except httpx.HTTPError as exc:
            return network_failure(rows, exc)
        body = body_of(response)
        if response.status_code == 200 and not (isinstance(body, dict) and "error" in body):
            return all_same(rows, "sent", None, None)
        code, message, retry = meta_error(body, response)
        return all_same(
            rows,
            "failed",
            code,
            message,
            retry=retry,
            after=retry_after(response) if retry else None,
        )

    async def test_connection(self, client: httpx.AsyncClient, destination: Destination) -> str:
        self.check(destination.settings, destination.credentials)
        try:
            response = await client.get(
                self._url(destination),
                params={
                    "fields": "id,name",
                    "access_token": destination.credentials.get("access_token", ""),
                },
            )
        except httpx.HTTPError as exc:
            raise SettingsRefused("base_url", f"Meta could not be reached: {exc}") from exc
        body = body_of(response)
        if response.status_code != 200 or not isinstance(body, dict) or "error" in body:
            code, message, _ = meta_error(body, response)
            field_name = "access_token" if code.split("/")[0] in ("190", "102") else "pixel_id"
            raise SettingsRefused(field_name, f"Meta refused the request: {code}: {message}")
        name = body.get("name") or body.get("id")
        return f"The access token can read pixel {body.get('id')} ({name})."


def meta_error(body: Any, response: httpx.Response) -> tuple[str, str, bool]:
    """(code, message, worth retrying) of a Graph API error answer. The code is
    ``code`` or ``code/error_subcode``; the message ends with the ``fbtrace_id`` Meta's
    support asks for."""
    error = body.get("error") if isinstance(body, Mapping) else None
    status = response.status_code
    server_fault = status == 429 or status >= 500
    if not isinstance(error, Mapping):
        return f"http_{status}", f"HTTP {status}", server_fault
    number = error.get("code")
    subcode = error.get("error_subcode")
    code = str(number) if number is not None else f"http_{status}"
    if subcode is not None:
        code = f"{code}/{subcode}"
    message = str(error.get("error_user_msg") or error.get("message") or "")
    trace = error.get("fbtrace_id")
    if trace:
        message = f"{message} (fbtrace_id {trace})"
    retry = server_fault or number in RATE_LIMITED or number in TEMPORARY
    if error.get("is_transient") is True:
        retry = True
    return code, message, retry


PLATFORM = MetaConversions()
# mypy proves the adapter fits the contract.
_CONTRACT: Platform = PLATFORM
