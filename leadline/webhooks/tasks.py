"""The delivery job: one signed POST per attempt, its outcome logged, retried on schedule."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from leadline import __version__
from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.jobs.registry import GiveUp, JobContext, RetryLater, task
from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from leadline.webhooks import service as webhooks
from leadline.webhooks.pinned import pinned_client
from leadline.webhooks.repository import WebhookRepository
from leadline.webhooks.safety import UnsafeTarget, resolve_target
from leadline.webhooks.signing import signed_headers

EXCERPT_BYTES = 1024
# The longest Retry-After a receiver may impose before the next attempt.
MAX_RETRY_AFTER = 24 * 3600.0


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt``."""
    delays = webhooks.RETRY_DELAYS
    return delays[min(attempt, len(delays)) - 1] * random.uniform(0.9, 1.1)


def _retry_after(response_headers: httpx.Headers | None) -> float | None:
    raw = (response_headers or httpx.Headers()).get("retry-after")
    if not raw:
        return None
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(raw)))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return min(MAX_RETRY_AFTER, max(0.0, when.timestamp() - time.time()))


class _Outcome:
    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: httpx.Headers | None = None
        self.excerpt: str | None = None
        self.error: str | None = None
        self.unsafe = False
        self.latency_ms = 0


async def _post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], seconds: float
) -> _Outcome:
    """POST ``body``; whatever happens, within ``seconds`` in all (connect, send, answer)."""
    outcome = _Outcome()
    started = time.perf_counter()
    try:
        async with (
            asyncio.timeout(seconds),
            client.stream("POST", url, content=body, headers=headers, timeout=seconds) as response,
        ):
            outcome.status = response.status_code
            outcome.headers = response.headers
            received = b""
            async for chunk in response.aiter_bytes():
                received += chunk
                if len(received) >= EXCERPT_BYTES:
                    break
            outcome.excerpt = received[:EXCERPT_BYTES].decode("utf-8", "replace")
    except httpx.HTTPError as exc:
        outcome.error = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    except TimeoutError:
        outcome.error = f"no answer within {seconds:g} seconds"
    outcome.latency_ms = round((time.perf_counter() - started) * 1000)
    return outcome


async def _disable(
    session: AsyncSession, endpoint: WebhookEndpoint, reason: str, now: datetime
) -> None:
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    endpoint.updated_at = now
    await session.flush()
    await webhooks.emit(
        session,
        endpoint.workspace_id,
        "webhook_endpoint.disabled",
        {"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason},
    )
    await audit.record(
        session,
        endpoint.workspace_id,
        Actor.system("webhooks"),
        "webhook_endpoint.disabled",
        "webhook_endpoint",
        endpoint.id,
        {"enabled": (True, False), "disabled_reason": (None, reason)},
    )


@dataclass(slots=True, frozen=True)
class _Pending:
    """What an attempt sends, read in a transaction of its own so that none stays open over
    the network."""

    url: str
    keys: list[str]
    body: str
    event_id: str
    endpoint_id: str
    was_failing: datetime | None


@dataclass(slots=True, frozen=True)
class _Failed:
    error: str
    give_up: bool


async def _pending(context: JobContext, workspace_id: str, delivery_id: str) -> _Pending | None:
    """The delivery's attempt to make, or None when there is none to make (any longer)."""
    async with context.db.transaction() as session:
        found = await WebhookRepository(session).delivery(workspace_id, delivery_id)
        if found is None:
            return None  # its endpoint was deleted, and the delivery with it
        delivery, endpoint, event = found
        if delivery.state != webhooks.PENDING:
            return None
        if not endpoint.enabled:
            _settle(delivery, webhooks.FAILED, utcnow(), error="the endpoint is disabled")
            return None
        return _Pending(
            url=endpoint.url,
            keys=webhooks.signing_keys(endpoint, utcnow()),
            body=event.body,
            event_id=event.id,
            endpoint_id=endpoint.id,
            was_failing=endpoint.failing_since,
        )


async def _attempt(context: JobContext, pending: _Pending) -> _Outcome:
    """One signed POST, unless the target is not one we may reach. The host is looked up once
    here, and the request goes to the addresses this lookup found and checked."""
    settings = context.settings
    try:
        target = await resolve_target(pending.url, allow_private=settings.webhooks_allow_private)
    except UnsafeTarget as exc:
        outcome = _Outcome()
        outcome.error, outcome.unsafe = exc.message, True
        return outcome
    content = pending.body.encode()
    headers = {
        **signed_headers(pending.keys, pending.event_id, int(time.time()), content),
        "content-type": "application/json",
        "user-agent": f"Leadline-Webhooks/{__version__}",
    }
    async with pinned_client(target) as client:
        return await _post(client, target.url, content, headers, settings.webhooks_timeout_seconds)


async def _record_delivered(
    context: JobContext, delivery_id: str, pending: _Pending, outcome: _Outcome, status: int
) -> None:
    async with context.db.transaction() as session:
        repo = WebhookRepository(session)
        await repo.record_delivered(
            delivery_id,
            utcnow(),
            status=status,
            latency_ms=outcome.latency_ms,
            excerpt=outcome.excerpt,
        )
        if pending.was_failing is not None:
            await repo.mark_healthy(pending.endpoint_id)


async def _record_failure(
    context: JobContext, workspace_id: str, delivery_id: str, outcome: _Outcome
) -> _Failed | None:
    """Log the failed attempt and settle what it means: the delivery failed for good (and the
    endpoint perhaps disabled), or it is tried again. None when the delivery is gone."""
    status = outcome.status
    last_attempt = context.attempt >= context.max_attempts
    async with context.db.transaction() as session:
        repo = WebhookRepository(session)
        found = await repo.delivery(workspace_id, delivery_id)
        if found is None:
            return None
        delivery, endpoint, _ = found
        now = utcnow()
        delivery.attempts += 1
        await repo.add(
            WebhookAttempt(
                id=new_id("wha"),
                delivery_id=delivery.id,
                number=delivery.attempts,
                started_at=now,
                status=outcome.status,
                latency_ms=outcome.latency_ms,
                response_excerpt=outcome.excerpt,
                error=outcome.error,
            )
        )
        error = outcome.error or f"the receiver answered {status}"
        if outcome.unsafe:
            _settle(delivery, webhooks.FAILED, now, error=error)
            return _Failed(error, give_up=True)
        if status == 410:
            _settle(delivery, webhooks.FAILED, now, status=status, error=error)
            await _disable(session, endpoint, "the receiver answered 410 Gone", now)
            return _Failed(error, give_up=True)
        await repo.mark_failing(endpoint.id, now)
        await session.refresh(endpoint)
        since = endpoint.failing_since
        if since is not None and now - since >= webhooks.FAILING_LIMIT and endpoint.enabled:
            await _disable(session, endpoint, "every delivery failed for five days", now)
        if last_attempt or not endpoint.enabled:
            _settle(delivery, webhooks.FAILED, now, status=status, error=error)
            return _Failed(error, give_up=True)
        delivery.last_status, delivery.last_error = status, error
        delivery.updated_at = now
        return _Failed(error, give_up=False)


@task(webhooks.DELIVER, max_attempts=webhooks.ATTEMPTS, backoff=retry_delay)
async def deliver(context: JobContext, payload: dict[str, Any]) -> None:
    workspace_id = context.workspace_id or ""
    delivery_id = str(payload["delivery_id"])
    pending = await _pending(context, workspace_id, delivery_id)
    if pending is None:
        return
    outcome = await _attempt(context, pending)
    status = outcome.status
    if status is not None and 200 <= status < 300:
        await _record_delivered(context, delivery_id, pending, outcome, status)
        return
    failed = await _record_failure(context, workspace_id, delivery_id, outcome)
    if failed is None:
        return
    if failed.give_up:
        raise GiveUp(failed.error)
    wait = _retry_after(outcome.headers) if status in (429, 503) else None
    if wait is not None:
        raise RetryLater(wait, f"{failed.error}; Retry-After {wait:g}s")
    raise RuntimeError(failed.error)


def _settle(
    delivery: WebhookDelivery,
    state: str,
    now: datetime,
    *,
    status: int | None = None,
    error: str | None = None,
) -> None:
    delivery.state = state
    delivery.last_status = status
    delivery.last_error = error
    delivery.updated_at = now
    if state == webhooks.DELIVERED:
        delivery.delivered_at = now
