"""Small helpers the Google and Meta adapters share: reading an answer's JSON and its
``Retry-After`` without ever raising."""

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
