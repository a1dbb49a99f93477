"""Reading a platform's answer into outcomes, for every adapter: its JSON and its
``Retry-After`` without ever raising, and the outcomes of a request that passed or failed
whole. Rate limits, server errors and lost connections are worth a retry; other refusals are
not."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from leadline.conversions.platforms.base import Conversion, Outcome


def body_of(response: httpx.Response) -> Any:
    """The answer's JSON, or None when it has none."""
    try:
        return json.loads(response.content or b"null")
    except ValueError:
        return None


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), when given."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def all_same(
    batch: Sequence[Conversion],
    state: str,
    code: str | None,
    message: str | None,
    *,
    retry: bool = False,
    after: float | None = None,
) -> list[Outcome]:
    """One outcome for every conversion of a request that failed (or succeeded) as a whole."""
    return [
        Outcome(
            key=c.key,
            state="sent" if state == "sent" else "failed",
            code=code,
            message=message,
            retry=retry,
            retry_after=after,
        )
        for c in batch
    ]


def network_failure(batch: Sequence[Conversion], exc: httpx.HTTPError) -> list[Outcome]:
    """A request that never got an answer: worth trying again."""
    return all_same(batch, "failed", "network_error", f"{type(exc).__name__}: {exc}", retry=True)


def keyed(outcome: Outcome, key: str) -> Outcome:
    """``outcome`` for the conversion ``key``."""
    return Outcome(
        key=key,
        state=outcome.state,
        code=outcome.code,
        message=outcome.message,
        retry=outcome.retry,
        retry_after=outcome.retry_after,
    )


def every(batch: Sequence[Conversion], outcome: Outcome) -> list[Outcome]:
    """The same outcome for every conversion of ``batch`` (a request failed or passed whole)."""
    return [keyed(outcome, conversion.key) for conversion in batch]


def failure(
    code: str | None,
    message: str | None,
    *,
    retry: bool = False,
    retry_after: float | None = None,
) -> Outcome:
    """A refusal with the platform's own code and message (keyed later)."""
    return Outcome(
        key="", state="failed", code=code, message=message, retry=retry, retry_after=retry_after
    )


def lost(exc: httpx.HTTPError) -> Outcome:
    """A request that never got an answer (keyed later): worth trying again."""
    message = str(exc) or type(exc).__name__
    return Outcome(key="", state="failed", code="network", message=message, retry=True)


def http_failure(response: httpx.Response, code: str | None, message: str | None) -> Outcome:
    """A whole request refused: 429 and 5xx are retried (429 after ``Retry-After``), other
    statuses are final. ``code``/``message`` are the platform's when it gave them."""
    status = response.status_code
    retry = status == 429 or status >= 500
    return Outcome(
        key="",
        state="failed",
        code=code or f"http_{status}",
        message=message or response.reason_phrase or f"HTTP {status}",
        retry=retry,
        retry_after=retry_after(response) if retry else None,
    )


def sent(key: str) -> Outcome:
    return Outcome(key=key, state="sent")
