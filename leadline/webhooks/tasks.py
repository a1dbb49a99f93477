"""The delivery job: a batch of due deliveries, sent at once, each attempt and outcome logged.

A job claims up to ``webhooks_batch_size`` due deliveries (any endpoints, oldest first) with a
lease held in its own name, reads their events and endpoints once, and sends each endpoint's
deliveries concurrently over the worker's kept-alive connections to that receiver. As each
endpoint's share finishes, its attempts and outcomes are recorded in one transaction, and its
failed deliveries are scheduled again, each on its own retry schedule. A batch that came back
full enqueues the next job first, so other workers share a backlog.

If the worker dies mid-batch, the job is queued again when its lease runs out, and takes back
the deliveries it held: those sent but not recorded are sent again (at least once).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline import __version__
from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.jobs import service as jobs
from leadline.jobs.registry import JobContext, task
from leadline.kit import metrics
from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.webhooks import service as webhooks
from leadline.webhooks.http1 import Client, ProtocolError
from leadline.webhooks.pinned import ConnectFailed
from leadline.webhooks.receivers import Receivers
from leadline.webhooks.repository import Claimed, EndpointRow, WebhookRepository
from leadline.webhooks.safety import UnsafeTarget, resolve_target
from leadline.webhooks.signing import signed_headers

log = logging.getLogger("leadline.webhooks")

# The longest Retry-After a receiver may impose before the next attempt.
MAX_RETRY_AFTER = 24 * 3600.0
USER_AGENT = f"Leadline-Webhooks/{__version__}"


def retry_delay(attempt: int, spread: float | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt``, spread by ``spread`` (a factor
    drawn from 0.9-1.1 unless given)."""
    delays = webhooks.RETRY_DELAYS
    factor = random.uniform(0.9, 1.1) if spread is None else spread
    return delays[min(attempt, len(delays)) - 1] * factor


def _retry_after(response_headers: dict[str, str] | None) -> float | None:
    raw = (response_headers or {}).get("retry-after")
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
        # Whole seconds, so that the deliveries of one batch told the same date retry together.
        return float(min(MAX_RETRY_AFTER, max(0, math.ceil(when.timestamp() - time.time()))))


# ------------------------------------------------------------------------------- sending


@dataclass(slots=True)
class _Outcome:
    status: int | None = None
    headers: dict[str, str] | None = None
    excerpt: str | None = None
    error: str | None = None
    unsafe: bool = False
    latency_ms: int = 0
    started_at: datetime = field(default_factory=utcnow)

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def _post(client: Client, headers: dict[str, str], body: bytes, seconds: float) -> _Outcome:
    """POST ``body``; whatever happens, within ``seconds`` in all (connect, send, answer)."""
    outcome = _Outcome()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(seconds):
            answer = await client.post(headers, body)
        outcome.status, outcome.headers = answer.status, answer.headers
        outcome.excerpt = answer.excerpt.decode("utf-8", "replace")
    except ConnectFailed as exc:
        outcome.error = f"ConnectError: {exc}"
    except ProtocolError as exc:
        outcome.error = f"RemoteProtocolError: {exc}"
    except TimeoutError:  # before OSError, which it is one of
        outcome.error = f"no answer within {seconds:g} seconds"
    except OSError as exc:
        outcome.error = f"NetworkError: {exc}"
    outcome.latency_ms = round((time.perf_counter() - started) * 1000)
    return outcome


@dataclass(slots=True, eq=False)
class _Group:
    """A batch's deliveries to one endpoint."""

    endpoint: EndpointRow
    deliveries: list[Claimed]


async def _send_one(
    client: Client, keys: list[str], delivery: Claimed, body: bytes, seconds: float
) -> _Outcome:
    # The slot first: the timeout is for the receiver's answer, not for our own queue.
    async with client.slots:
        headers = {
            **signed_headers(keys, delivery.event_id, int(time.time()), body),
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        return await _post(client, headers, body, seconds)


async def _send_group(
    context: JobContext, group: _Group, bodies: dict[str, bytes]
) -> list[_Outcome]:
    """One attempt of each delivery in ``group``, all at once (as many in flight as the
    receiver has slots). The host is looked up once here, and every request goes to the
    addresses this lookup found and checked."""
    settings = context.settings
    try:
        target = await resolve_target(
            group.endpoint.url, allow_private=settings.webhooks_allow_private
        )
    except UnsafeTarget as exc:
        return [_Outcome(error=exc.message, unsafe=True) for _ in group.deliveries]
    keys = webhooks.signing_keys_of(
        group.endpoint.secret,
        group.endpoint.previous_secret,
        group.endpoint.previous_secret_expires_at,
        utcnow(),
    )
    receivers = context.resources.get(
        "webhooks.receivers", lambda: Receivers(settings.webhooks_connections_per_host)
    )
    async with receivers.hold(target) as client:
        return list(
            await asyncio.gather(
                *(
                    _send_one(
                        client,
                        keys,
                        delivery,
                        bodies[delivery.event_id],
                        settings.webhooks_timeout_seconds,
                    )
                    for delivery in group.deliveries
                )
            )
        )


# ------------------------------------------------------------------------------ claiming


@dataclass(slots=True)
class _Batch:
    groups: list[_Group]
    bodies: dict[str, bytes]

    @property
    def ids(self) -> set[str]:
        return {delivery.id for group in self.groups for delivery in group.deliveries}


async def _claim(context: JobContext) -> _Batch:
    """This job's batch, in one transaction: due deliveries leased to the job, their events
    and endpoints. Deliveries of a disabled endpoint fail there and then, unsent; those of a
    failing endpoint beyond one request per connection wait (see ``_pace``)."""
    settings = context.settings
    limit = settings.webhooks_batch_size
    now = utcnow()
    until = now + timedelta(seconds=settings.jobs_lease_seconds)
    async with context.db.transaction() as session:
        repo = WebhookRepository(session)
        claimed = await repo.claim(context.job_id, now, until, limit)
        if not claimed:
            return _Batch([], {})
        if len(claimed) == limit:
            # More may be due: let another slot or worker take the next batch meanwhile.
            await jobs.enqueue(session, webhooks.DELIVER, {})
        endpoints = await repo.endpoint_rows({delivery.endpoint_id for delivery in claimed})
        groups: dict[str, _Group] = {}
        unsent: list[str] = []
        for delivery in claimed:
            endpoint = endpoints.get(delivery.endpoint_id)
            if endpoint is None or not endpoint.enabled:
                unsent.append(delivery.id)
                continue
            groups.setdefault(endpoint.id, _Group(endpoint, [])).deliveries.append(delivery)
        await repo.fail_unsent(context.job_id, unsent, now, "the endpoint is disabled")
        await _pace(context, repo, list(groups.values()), now)
        wanted = {d.event_id for group in groups.values() for d in group.deliveries}
        bodies = await repo.event_bodies(wanted) if wanted else {}
    return _Batch(list(groups.values()), {key: body.encode() for key, body in bodies.items()})


async def _pace(
    context: JobContext, repo: WebhookRepository, groups: list[_Group], now: datetime
) -> None:
    """A failing endpoint (its last attempt failed) gets one request per connection in a
    batch: a receiver that is down or answers slowly then holds a batch for one timeout at
    most, not one per wave of requests, while the others' deliveries go on. The rest of its
    deliveries wait one timeout, handed back unattempted, for a later batch."""
    settings = context.settings
    cap = settings.webhooks_connections_per_host
    waiting: list[str] = []
    for group in groups:
        if group.endpoint.failing_since is not None and len(group.deliveries) > cap:
            waiting += [delivery.id for delivery in group.deliveries[cap:]]
            del group.deliveries[cap:]
    if waiting:
        later = now + timedelta(seconds=settings.webhooks_timeout_seconds)
        await repo.postpone(context.job_id, waiting, now, later)
        await jobs.enqueue(session=repo.session, kind=webhooks.DELIVER, run_at=later)


# ----------------------------------------------------------------------------- recording


@dataclass(slots=True)
class _Settled:
    """A failed attempt's consequence for its delivery."""

    state: str
    error: str
    next_attempt_at: datetime | None = None


async def _disable(session: AsyncSession, endpoint_id: str, reason: str, now: datetime) -> None:
    endpoint = await WebhookRepository(session).endpoint_by_id(endpoint_id)
    if endpoint is None or not endpoint.enabled:
        return
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


def _disabling(endpoint: EndpointRow, outcomes: Iterable[_Outcome], now: datetime) -> str | None:
    """Why these failed attempts disable the endpoint, if they do."""
    failed = [outcome for outcome in outcomes if not outcome.unsafe]
    if any(outcome.status == 410 for outcome in failed):
        return "the receiver answered 410 Gone"
    since = endpoint.failing_since
    if failed and since is not None and now - since >= webhooks.FAILING_LIMIT:
        return "every delivery failed for five days"
    return None


def _settle_failure(
    delivery: Claimed, outcome: _Outcome, now: datetime, *, give_up: bool, spread: float
) -> _Settled:
    status = outcome.status
    error = outcome.error or f"the receiver answered {status}"
    if give_up or outcome.unsafe or status == 410 or delivery.attempt >= webhooks.ATTEMPTS:
        return _Settled(webhooks.FAILED, error)
    wait = _retry_after(outcome.headers) if status in (429, 503) else None
    if wait is not None:
        error = f"{error}; Retry-After {wait:g}s"
    else:
        wait = retry_delay(delivery.attempt, spread)
    return _Settled(webhooks.PENDING, error, now + timedelta(seconds=wait))


def _attempt_row(delivery: Claimed, outcome: _Outcome) -> dict[str, Any]:
    return {
        "id": new_id("wha"),
        "delivery_id": delivery.id,
        "number": delivery.attempt,
        "started_at": outcome.started_at,
        "status": outcome.status,
        "latency_ms": outcome.latency_ms,
        "response_excerpt": outcome.excerpt,
        "error": outcome.error,
    }


def _failure_row(
    delivery: Claimed, outcome: _Outcome, settled: _Settled, now: datetime
) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "state": settled.state,
        "last_status": outcome.status,
        "last_error": settled.error,
        "next_attempt_at": settled.next_attempt_at,
        "updated_at": now,
    }


async def _record(context: JobContext, group: _Group, outcomes: list[_Outcome]) -> None:
    """A group's attempts and outcomes, in one transaction: delivered ones in one statement,
    failed ones in another, every attempt logged in a third; the endpoint's health; and a
    delivery job for each moment a failed delivery is due again. Deliveries whose lease
    passed to another job meanwhile are left to it."""
    holder, endpoint = context.job_id, group.endpoint
    now = utcnow()
    pairs = list(zip(group.deliveries, outcomes, strict=True))
    delivered: dict[int, list[str]] = {}
    for delivery, outcome in pairs:
        if outcome.delivered and outcome.status is not None:
            delivered.setdefault(outcome.status, []).append(delivery.id)
    tried = [(delivery, outcome) for delivery, outcome in pairs if not outcome.delivered]
    async with context.db.transaction() as session:
        repo = WebhookRepository(session)
        went = await repo.settle_delivered(holder, now, delivered)
        held = went | await repo.hold(holder, [delivery.id for delivery, _ in tried], now)
        failed = [(delivery, outcome) for delivery, outcome in tried if delivery.id in held]
        if went:
            if endpoint.failing_since is not None:
                await repo.mark_healthy(endpoint.id)
        elif any(not outcome.unsafe and outcome.status != 410 for _, outcome in failed):
            await repo.mark_failing(endpoint.id, now)
        reason = _disabling(endpoint, (outcome for _, outcome in failed), now)
        # Deliveries that fail together retry together: one spread for the group.
        spread = random.uniform(0.9, 1.1)
        settled = [
            (
                delivery,
                outcome,
                _settle_failure(delivery, outcome, now, give_up=bool(reason), spread=spread),
            )
            for delivery, outcome in failed
        ]
        await repo.settle_failed([_failure_row(*each, now) for each in settled])
        await repo.add_attempts([_attempt_row(*pair) for pair in pairs if pair[0].id in held])
        if reason is not None:
            await _disable(session, endpoint.id, reason, now)
        for when in sorted({r.next_attempt_at for _, _, r in settled if r.next_attempt_at}):
            await jobs.enqueue(
                session, webhooks.DELIVER, {}, workspace_id=endpoint.workspace_id, run_at=when
            )
    _count(went, settled, [outcome for delivery, outcome in pairs if delivery.id in held])


def _count(
    went: set[str], settled: list[tuple[Claimed, _Outcome, _Settled]], tried: list[_Outcome]
) -> None:
    """The recorded outcomes, in the process's metrics (after their transaction committed)."""
    if went:
        metrics.WEBHOOK_DELIVERIES.labels("delivered").inc(len(went))
    for _, _, result in settled:
        outcome = "retrying" if result.state == webhooks.PENDING else "failed"
        metrics.WEBHOOK_DELIVERIES.labels(outcome).inc()
    for attempt in tried:
        metrics.WEBHOOK_LATENCY.observe(attempt.latency_ms / 1000)


# ------------------------------------------------------------------------------ the task


async def _renew(context: JobContext, ids: set[str]) -> None:
    """Keep the batch's leases while it is being sent (a slow receiver may take a while)."""
    lease = timedelta(seconds=context.settings.jobs_lease_seconds)
    while True:
        await asyncio.sleep(lease.total_seconds() / 3)
        try:
            async with context.db.transaction() as session:
                await WebhookRepository(session).renew(context.job_id, ids, utcnow() + lease)
        except Exception:  # the next renewal may succeed
            log.exception("renewing the leases of %d deliveries failed", len(ids))


async def _deliver_group(context: JobContext, batch: _Batch, group: _Group) -> None:
    outcomes = await _send_group(context, group, batch.bodies)
    await _record(context, group, outcomes)
    batch.groups.remove(group)


@task(webhooks.DELIVER)
async def deliver(context: JobContext, payload: dict[str, Any]) -> None:
    """Send one batch of due deliveries. The payload says nothing: whichever deliveries are
    due when the job runs are its batch."""
    batch = await _claim(context)
    if not batch.groups:
        return
    renewing = asyncio.create_task(_renew(context, batch.ids))
    try:
        results = await asyncio.gather(
            *(_deliver_group(context, batch, group) for group in list(batch.groups)),
            return_exceptions=True,
        )
    except asyncio.CancelledError:
        # The worker is stopping: hand back what was not recorded, as if never taken.
        async with context.db.transaction() as session:
            await WebhookRepository(session).release(context.job_id, batch.ids, utcnow())
        raise
    finally:
        renewing.cancel()
    for result in results:
        if isinstance(result, BaseException):
            # Recording failed: the job runs again, and takes its deliveries back.
            raise result
