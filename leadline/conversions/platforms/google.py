"""Google Ads: click conversions and enhanced conversions for leads, through the REST
interface of the Google Ads API (``ConversionUploadService.UploadClickConversions``).

Why REST over httpx rather than the ``google-ads`` client library: docs/adr/0012.

Each conversion carries exactly one click ID, ``gclid`` before ``gbraid`` before ``wbraid``;
a conversion with none goes as an enhanced conversion for leads, matched on the hashed email
and phone alone. ``order_id`` is always the conversion's key, so Google refuses a second copy.
The request is always sent with ``partialFailure`` set (Google requires it) and the answer's
``partialFailureError`` is read row by row.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    GOOGLE_EMAIL_RULES,
    GoogleEmailRule,
    google_hashed_email,
    google_hashed_phone,
)

API_VERSION = "v26"
TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL, not a secret)
# Row errors that mean Google already holds this conversion (its order ID was recorded before,
# or the same click and time): the upload did what it should, so the outcome is "sent".
ALREADY_RECORDED = frozenset({"CLICK_CONVERSION_ALREADY_EXISTS", "ORDER_ID_ALREADY_IN_USE"})
# Row errors Google asks to retry later (the click, or the conversion action, is under 6 hours
# old).
RETRY_LATER = {"TOO_RECENT_EVENT": 6 * 3600.0, "TOO_RECENT_CONVERSION_ACTION": 6 * 3600.0}
_ACTION_NAME = re.compile(r"^customers/(\d+)/conversionActions/(\d+)$")
_CONSENT = {True: "GRANTED", False: "DENIED"}

# Access tokens by (token URL, client id, refresh token): (token, expiry on the monotonic clock).
_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}


def customer_digits(value: Any) -> str:
    """A customer ID as Google's API takes it: ``123-456-7890`` gives ``1234567890``."""
    text = str(value or "").strip().replace("-", "")
    return text if text.isdigit() and len(text) == 10 else ""


def conversion_date_time(moment: datetime, zone: str | None = None) -> str:
    """``yyyy-mm-dd hh:mm:ss+|-hh:mm`` in ``zone`` (default UTC); a naive time is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(ZoneInfo(zone) if zone else UTC)
    text = local.strftime("%Y-%m-%d %H:%M:%S%z")
    return f"{text[:-2]}:{text[-2:]}"


def _money(value: Decimal) -> float:
    return float(value)


class GoogleAds:
    name: ClassVar[str] = "google"
    default_base_url: ClassVar[str] = "https://googleads.googleapis.com"
    click_fields: ClassVar[tuple[str, ...]] = ("gclid", "gbraid", "wbraid")
    matches_without_click: ClassVar[bool] = True
    # Google's EU user consent policy: user data may be sent for ads only with consent to
    # ad_user_data; ad_personalization is passed on but does not gate the upload.
    required_consent: ClassVar[tuple[str, ...]] = ("ad_user_data",)
    # The longest click-through window a conversion action can have.
    click_window: ClassVar[timedelta] = timedelta(days=90)
    max_event_age: ClassVar[timedelta | None] = None
    max_batch: ClassVar[int] = 2000
    required_settings: ClassVar[tuple[str, ...]] = ("customer_id", "conversion_actions")
    required_credentials: ClassVar[tuple[str, ...]] = (
        "developer_token",
        "client_id",
        "client_secret",
        "refresh_token",
    )
    default_status_map: ClassVar[Mapping[str, str]] = {
        "qualified": "qualified_lead",
        "won": "purchase",
    }

    # Settings ---------------------------------------------------------------------------

    def check(self, settings: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
        customer = customer_digits(settings.get("customer_id"))
        if not customer:
            raise SettingsRefused(
                "customer_id", "customer_id must be a 10-digit Google Ads customer ID"
            )
        login = settings.get("login_customer_id")
        if login not in (None, "") and not customer_digits(login):
            raise SettingsRefused(
                "login_customer_id", "login_customer_id must be a 10-digit manager account ID"
            )
        actions = settings.get("conversion_actions")
        if not isinstance(actions, Mapping) or not actions:
            raise SettingsRefused(
                "conversion_actions",
                "conversion_actions must map each event name to a conversion action ID or "
                "resource name",
            )
        for event, action in actions.items():
            if not isinstance(event, str) or not event:
                raise SettingsRefused("conversion_actions", "event names must be text")
            if self._action_name(customer, action) is None:
                raise SettingsRefused(
                    "conversion_actions",
                    f"conversion action for {event!r} must be a numeric ID or "
                    "customers/CUSTOMER_ID/conversionActions/ID",
                )
        rule = settings.get("email_rule", "gmail")
        if rule not in GOOGLE_EMAIL_RULES:
            raise SettingsRefused("email_rule", "email_rule must be gmail or all_domains")
        zone = settings.get("time_zone")
        if zone is not None:
            try:
                ZoneInfo(str(zone))
            except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
                raise SettingsRefused("time_zone", f"unknown time zone {zone!r}") from exc
        for field_name in ("api_version", "token_url"):
            value = settings.get(field_name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise SettingsRefused(field_name, f"{field_name} must be text")
        for field_name in self.required_credentials:
            value = credentials.get(field_name)
            if not isinstance(value, str) or not value.strip():
                raise SettingsRefused(field_name, f"credentials need {field_name}")

    @staticmethod
    def _action_name(customer: str, action: Any) -> str | None:
        text = str(action).strip() if isinstance(action, str | int) else ""
        if text.isdigit():
            return f"customers/{customer}/conversionActions/{text}"
        # Google identifies the action by its ID alone (a manager account's action, under
        # cross-account conversion tracking, names the manager).
        return text if _ACTION_NAME.match(text) else None

    # Eligibility --------------------------------------------------------------------------

    def blockers(self, conversion: Conversion, now: datetime) -> list[str]:
        if any(conversion.click_ids.get(f) for f in self.click_fields):
            return []
        # Enhanced conversions for leads: matched on hashed email or phone only.
        if google_hashed_email(conversion.email) or google_hashed_phone(conversion.phone_e164):
            return []
        return ["missing_user_data"]

    # Wire format ----------------------------------------------------------------------------

    def click_conversion(
        self, conversion: Conversion, settings: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The ``ClickConversion`` (REST JSON) for ``conversion``; None when the destination
        maps its event to no conversion action."""
        customer = customer_digits(settings.get("customer_id"))
        actions = settings.get("conversion_actions") or {}
        action = actions.get(conversion.event_name)
        name = None if action is None else self._action_name(customer, action)
        if name is None:
            return None
        body: dict[str, Any] = {
            "conversionAction": name,
            "conversionDateTime": conversion_date_time(
                conversion.occurred_at, settings.get("time_zone")
            ),
            "orderId": conversion.key,
        }
        click_field = next((f for f in self.click_fields if conversion.click_ids.get(f)), None)
        if click_field is not None:
            body[click_field] = conversion.click_ids[click_field]
        if click_field in (None, "gclid"):
            # Google refuses user identifiers beside a gbraid or wbraid (VALUE_MUST_BE_UNSET,
            # "Upload click conversions" guide); a gclid or no click at all goes with the
            # hashed identifiers (enhanced conversions for leads).
            rule: GoogleEmailRule = settings.get("email_rule", "gmail")
            identifiers = []
            email = google_hashed_email(conversion.email, rule)
            if email:
                identifiers.append({"hashedEmail": email})
            phone = google_hashed_phone(conversion.phone_e164)
            if phone:
                identifiers.append({"hashedPhoneNumber": phone})
            if identifiers:
                body["userIdentifiers"] = identifiers
        if conversion.value is not None:
            body["conversionValue"] = _money(conversion.value)
            if conversion.currency:
                body["currencyCode"] = conversion.currency.upper()
        consent = {}
        for flag, field_name in (
            ("ad_user_data", "adUserData"),
            ("ad_personalization", "adPersonalization"),
        ):
            granted = conversion.consent.get(flag)
            if granted is not None:
                consent[field_name] = _CONSENT[bool(granted)]
        if consent:
            body["consent"] = consent
        return body

    def _base(self, destination: Destination) -> str:
        return (destination.base_url or self.default_base_url).rstrip("/")

    def _token_url(self, destination: Destination) -> str:
        configured = destination.settings.get("token_url")
        if configured:
            return str(configured)
        base = self._base(destination)
        # A destination pointed at another server (a local one in tests, a proxy) finds the
        # token endpoint there too.
        return TOKEN_URL if base == self.default_base_url else f"{base}/token"

    async def _access_token(
        self, client: httpx.AsyncClient, destination: Destination
    ) -> tuple[str | None, Outcome | None]:
        """An access token from the refresh token, or the outcome to give every conversion."""
        creds = destination.credentials
        url = self._token_url(destination)
        cache_key = (url, creds.get("client_id", ""), creds.get("refresh_token", ""))
        cached = _tokens.get(cache_key)
        if cached and cached[1] > time.monotonic():
            return cached[0], None
        try:
            response = await client.post(
                url,
                data={
                    "grant_type": "refresh_token",
                    "client_id": creds.get("client_id", ""),
                    "client_secret": creds.get("client_secret", ""),
                    "refresh_token": creds.get("refresh_token", ""),
                },
                headers={"accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            return None, Outcome(
                key="", state="failed", code="network_error", message=str(exc), retry=True
            )
        body = body_of(response)
        if response.status_code == 200 and isinstance(body, dict) and body.get("access_token"):
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in") or 3600)
            _tokens[cache_key] = (token, time.monotonic() + max(0.0, lifetime - 60))
            return token, None
        code = "token_refused"
        message = f"the token endpoint answered HTTP {response.status_code}"
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            code = body["error"]
            message = str(body.get("error_description") or code)
        retry = response.status_code == 429 or response.status_code >= 500
        return None, Outcome(
            key="",
            state="failed",
            code=code,
            message=message,
            retry=retry,
            retry_after=retry_after(response) if retry else None,
        )

    def _headers(self, destination: Destination, token: str) -> dict[str, str]:
        headers = {
            "authorization": f"Bearer {token}",
            "developer-token": destination.credentials.get("developer_token", ""),
            "content-type": "application/json",
        }
        login = customer_digits(destination.settings.get("login_customer_id"))
        if login:
            headers["login-customer-id"] = login
        return headers

    def _url(self, destination: Destination, method: str) -> str:
        version = destination.settings.get("api_version") or API_VERSION
        customer = customer_digits(destination.settings.get("customer_id"))
        return f"{self._base(destination)}/{version}/customers/{customer}{method}"

    async def send(
        self, client: httpx.AsyncClient, destination: Destination, batch: Sequence[Conversion]
    ) -> list[Outcome]:
        outcomes: dict[str, Outcome] = {}
        rows: list[Conversion] = []
        bodies: list[dict[str, Any]] = []
        for conversion in batch:
            body = self.click_conversion(conversion, destination.settings)
            if body is None:
                outcomes[conversion.key] = Outcome(
                    key=conversion.key,
                    state="failed",
                    code="no_conversion_action",
                    message=f"no conversion action is set for event {conversion.event_name!r}",
                )
            else:
                rows.append(conversion)
                bodies.append(body)
        if rows:
            for outcome in await self._upload(client, destination, rows, bodies):
                outcomes[outcome.key] = outcome
        return [outcomes[c.key] for c in batch]

    async def _upload(
        self,
        client: httpx.AsyncClient,
        destination: Destination,
        rows: list[Conversion],
        bodies: list[dict[str, Any]],
    ) -> list[Outcome]:
        for _attempt in (1, 2):
            token, refused = await self._access_token(client, destination)
            if token is None:
                assert refused is not None
                return all_same(
                    rows,
                    "failed",
                    refused.code,
                    refused.message,
                    retry=refused.retry,
                    after=refused.retry_after,
                )
            try:
                response = await client.post(
                    self._url(destination, ":uploadClickConversions"),
                    json={"conversions": bodies, "partialFailure": True},
                    headers=self._headers(destination, token),
                )
            except httpx.HTTPError as exc:
                return network_failure(rows, exc)
            if response.status_code != 401:
                break
            # A kept access token may have been revoked: once more with a fresh one.
            self._forget_token(destination)
        body = body_of(response)
        if response.status_code != 200:
            code, message, delay = google_error(body, response)
            retry = (
                response.status_code in (429, 500, 502, 503, 504)
                or code in ("RESOURCE_EXHAUSTED", "RESOURCE_TEMPORARILY_EXHAUSTED")
                or response.status_code >= 500
            )
            return all_same(
                rows,
                "failed",
                code,
                message,
                retry=retry,
                after=(delay if delay is not None else retry_after(response)) if retry else None,
            )
        failures = row_failures(body if isinstance(body, dict) else {}, len(rows))
        outcomes = []
        for index, conversion in enumerate(rows):
            failure = failures.get(index)
            if failure is None:
                outcomes.append(Outcome(key=conversion.key, state="sent"))
                continue
            code, message = failure
            if code in ALREADY_RECORDED:
                outcomes.append(
                    Outcome(key=conversion.key, state="sent", code=code, message=message)
                )
            elif code in RETRY_LATER:
                outcomes.append(
                    Outcome(
                        key=conversion.key,
                        state="failed",
                        code=code,
                        message=message,
                        retry=True,
                        retry_after=RETRY_LATER[code],
                    )
                )
            else:
                outcomes.append(
                    Outcome(key=conversion.key, state="failed", code=code, message=message)
                )
        return outcomes

    def _forget_token(self, destination: Destination) -> None:
        creds = destination.credentials
        _tokens.pop(
            (
                self._token_url(destination),
                creds.get("client_id", ""),
                creds.get("refresh_token", ""),
            ),
            None,
        )

    async def test_connection(self, client: httpx.AsyncClient, destination: Destination) -> str:
        self.check(destination.settings, destination.credentials)
        token, refused = await self._access_token(client, destination)
        if token is None:
            assert refused is not None
            raise SettingsRefused(
                "refresh_token", f"Google refused the OAuth credentials: {refused.message}"
            )
        customer = customer_digits(destination.settings.get("customer_id"))
        query = (
            "SELECT conversion_action.resource_name, conversion_action.name, "
            "conversion_action.status FROM conversion_action"
        )
        try:
            response = await client.post(
                self._url(destination, "/googleAds:search"),
                json={"query": query},
                headers=self._headers(destination, token),
            )
        except httpx.HTTPError as exc:
            raise SettingsRefused("base_url", f"Google Ads could not be reached: {exc}") from exc
        body = body_of(response)
        if response.status_code != 200:
            if response.status_code == 401:
                self._forget_token(destination)
            code, message, _ = google_error(body, response)
            field_name = "developer_token" if "developer" in (code or "").lower() else "customer_id"
            raise SettingsRefused(field_name, f"Google Ads refused the request: {code}: {message}")
        found = set()
        for result in (body or {}).get("results") or []:
            action = result.get("conversionAction") or {}
            if action.get("resourceName"):
                found.add(str(action["resourceName"]).rsplit("/", 1)[-1])
        actions = destination.settings.get("conversion_actions") or {}
        missing = sorted(
            event
            for event, action in actions.items()
            if (self._action_name(customer, action) or "").rsplit("/", 1)[-1] not in found
        )
        if missing:
            raise SettingsRefused(
                "conversion_actions",
                "account has no conversion action for: " + ", ".join(missing),
            )
        return (
            f"Signed in to Google Ads customer {customer} and found the "
            f"{len(actions)} conversion action(s) this destination uses."
        )


def _error_code(error: Mapping[str, Any]) -> str | None:
    codes = error.get("errorCode")
    if isinstance(codes, Mapping):
        for value in codes.values():
            if isinstance(value, str):
                return value
    return None


def _failures(details: Any) -> list[Mapping[str, Any]]:
    """The ``GoogleAdsFailure.errors`` found in a status's ``details``."""
    found: list[Mapping[str, Any]] = []
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, Mapping) and isinstance(detail.get("errors"), list):
            found.extend(e for e in detail["errors"] if isinstance(e, Mapping))
    return found


def row_failures(body: Mapping[str, Any], count: int | None = None) -> dict[int, tuple[str, str]]:
    """Row index → (error code, message) from an answer's ``partialFailureError``: each
    error's location names the ``conversions`` element it concerns. A row with no error of its
    own but an empty result (Google's mark of a failed row) takes the first error that names
    no row, or the status itself."""
    status = body.get("partialFailureError")
    if not isinstance(status, Mapping):
        return {}
    found: dict[int, tuple[str, str]] = {}
    unplaced: tuple[str, str] | None = None
    for error in _failures(status.get("details")):
        path = (error.get("location") or {}).get("fieldPathElements") or []
        index = next(
            (
                element.get("index")
                for element in path
                if isinstance(element, Mapping) and element.get("fieldName") == "conversions"
            ),
            None,
        )
        failure = (_error_code(error) or "UNKNOWN", str(error.get("message") or ""))
        if not isinstance(index, int):
            unplaced = unplaced or failure
        elif index not in found:
            found[index] = failure
    results = body.get("results")
    results = results if isinstance(results, list) else []
    fallback = unplaced or ("UNKNOWN", str(status.get("message") or ""))
    for index in range(len(results) if count is None else count):
        if index in found:
            continue
        result = results[index] if index < len(results) else {}
        if not result:
            found[index] = fallback
    return found


def _seconds(duration: Any) -> float | None:
    """A protobuf Duration in JSON (``"30s"``, ``"1.5s"``) as seconds."""
    if isinstance(duration, str) and duration.endswith("s"):
        try:
            return float(duration[:-1])
        except ValueError:
            return None
    return None


def google_error(body: Any, response: httpx.Response) -> tuple[str, str, float | None]:
    """(code, message, retry delay) of a failed request: the first Google Ads error code
    in the status details, else the status name (``RESOURCE_EXHAUSTED``, ...)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return f"http_{response.status_code}", f"HTTP {response.status_code}", None
    failures = _failures(error.get("details"))
    code = next((c for c in (_error_code(e) for e in failures) if c), None)
    message = next((str(e["message"]) for e in failures if e.get("message")), None)
    delay = None
    for failure in failures:
        quota = (failure.get("details") or {}).get("quotaErrorDetails") or {}
        delay = _seconds(quota.get("retryDelay"))
        if delay is not None:
            break
    return (
        code or str(error.get("status") or f"http_{response.status_code}"),
        message or str(error.get("message") or ""),
        delay,
    )


PLATFORM = GoogleAds()
# mypy proves the adapter fits the contract.
_CONTRACT: Platform = PLATFORM
