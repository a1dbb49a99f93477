"""Webhook endpoints, and events turned into signed, retried deliveries after commit."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.auth.service import Principal
from leadline.config import Settings
from leadline.errors import Conflict, NotFound, ValidationFailed
from leadline.jobs import service as jobs
from leadline.kit import cursors
from leadline.kit.ids import new_id
from leadline.kit.time import iso_millis, utcnow
from leadline.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from leadline.webhooks.repository import WebhookRepository
from leadline.webhooks.safety import check_target
from leadline.webhooks.signing import new_secret

# The events a workspace can subscribe to, and what each means.
EVENT_TYPES: dict[str, str] = {
    "lead.created": "a lead was created (API, form or import)",
    "lead.updated": "a lead's value, currency, note or loss reason changed",
    "lead.status_changed": "a lead moved through the pipeline (qualified, won, lost)",
    "lead.captured": "a form submission made a new lead (POST /lead.capture)",
    "lead.submission_received": "a form submission was received for a lead, new or earlier",
    "contact.identified": "a site identified a chat visitor as someone it knows (the widget)",
    "ai.handoff": "the AI agent handed a conversation to the people on shift",
    "contact.erased": "a person was erased at their request (GDPR); the data is the receipt's",
    "webhook_endpoint.disabled": "an endpoint was disabled because deliveries kept failing",
    "operator.online": "a person of the workspace became available (online) for conversations",
    "operator.offline": "a person of the workspace stopped being available (away or offline)",
    "contact.created": "someone new started a conversation in the inbox",
    "conversation.created": "a contact started a conversation",
    "conversation.assigned": "a conversation was assigned to someone, or unassigned",
    "conversation.resolved": "a conversation was closed",
    "conversation.reopened": "a closed, snoozed or spam conversation was opened again",
    "message.created": "a message was added to a conversation (by the contact, an operator or AI)",
    "anomaly.detected": "the hourly check found a new anomaly on a site (traffic, submissions, "
    "VPN share, tracking broken)",
    "anomaly.resolved": "an open anomaly of a site was no longer seen by the hourly check",
    "conversion.click_expiring": "a lead's ad click can be uploaded for seven more days, and no "
    "conversion of it has been (daily)",
}
# Sent only to the endpoint being tested, whatever it subscribes to.
TEST_EVENT = "webhook.test"

# The delivery job: sends a batch of due deliveries (see tasks.py). Emitting events and
# redelivering enqueue one per transaction; a full batch enqueues the next; failed attempts
# enqueue one for when they are due again.
DELIVER = "webhooks.deliver"
# The first attempt is immediate; then these waits (seconds), each spread by +/-10%.
RETRY_DELAYS: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
ATTEMPTS = len(RETRY_DELAYS) + 1
# An endpoint whose every delivery has failed for this long is disabled.
FAILING_LIMIT = timedelta(days=5)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str


def event_types_of(endpoint: WebhookEndpoint) -> list[str]:
    types: list[str] = json.loads(endpoint.event_types or "[]")
    return types


def subscribed(endpoint: WebhookEndpoint, event_type: str) -> bool:
    types = event_types_of(endpoint)
    return not types or event_type in types


def _check_event_types(event_types: Sequence[str]) -> list[str]:
    unknown = [name for name in event_types if name not in EVENT_TYPES]
    if unknown:
        raise ValidationFailed(
            f"unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}",
            details={"field": "events", "value": unknown[0]},
        )
    return sorted(set(event_types))


async def _check_url(url: str, settings: Settings) -> str:
    url = url.strip()
    if not url or len(url) > 2048:
        raise ValidationFailed("url must be 1 to 2048 characters", details={"field": "url"})
    await check_target(url, allow_private=settings.webhooks_allow_private)
    return url


def _actor(principal: Principal) -> Actor:
    return principal.actor


# ------------------------------------------------------------------------------ endpoints


async def create_endpoint(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    *,
    url: str,
    event_types: Sequence[str] = (),
    description: str | None = None,
) -> CreatedEndpoint:
    """A new endpoint and its signing secret, which is shown to the caller this once."""
    url = await _check_url(url, settings)
    types = _check_event_types(event_types)
    now = utcnow()
    secret = new_secret()
    endpoint = WebhookEndpoint(
        id=new_id("wh"),
        workspace_id=principal.workspace_id,
        url=url,
        description=description,
        event_types=json.dumps(types),
        enabled=True,
        secret=secret,
        created_at=now,
        updated_at=now,
    )
    await WebhookRepository(session).add(endpoint)
    await audit.record(
        session,
        principal.workspace_id,
        _actor(principal),
        "webhook_endpoint.created",
        "webhook_endpoint",
        endpoint.id,
        {"url": (None, url), "event_types": (None, types), "description": (None, description)},
    )
    return CreatedEndpoint(endpoint, secret)


async def get_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: str
) -> WebhookEndpoint:
    endpoint = await WebhookRepository(session).endpoint(principal.workspace_id, endpoint_id)
    if endpoint is None:
        raise NotFound(
            f"webhook endpoint '{endpoint_id}' not found",
            details={"id": endpoint_id},
            resource="webhook",
        )
    return endpoint


@dataclass(frozen=True)
class EndpointPage:
    endpoints: list[WebhookEndpoint]
    has_more: bool  # more endpoints follow the last one


async def list_endpoints(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> EndpointPage:
    """Up to ``limit`` of the workspace's endpoints, newest first, after ``after``."""
    rows = await WebhookRepository(session).endpoints(
        principal.workspace_id, limit=limit + 1, after=after
    )
    endpoints, more = cursors.cut(rows, limit)
    return EndpointPage(endpoints=endpoints, has_more=more)


async def update_endpoint(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    endpoint_id: str,
    *,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, principal, endpoint_id)
    before = _settings_of(endpoint)
    if url is not None:
        endpoint.url = await _check_url(url, settings)
    if event_types is not None:
        endpoint.event_types = json.dumps(_check_event_types(event_types))
    if description is not None:
        endpoint.description = description
    if enabled is not None:
        endpoint.enabled = enabled
        if enabled:
            endpoint.disabled_reason = None
            endpoint.failing_since = None
    endpoint.updated_at = utcnow()
    changes = audit.diff(before, _settings_of(endpoint))
    if changes:
        await audit.record(
            session,
            principal.workspace_id,
            _actor(principal),
            "webhook_endpoint.updated",
            "webhook_endpoint",
            endpoint.id,
            changes,
        )
    return endpoint


def _settings_of(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "event_types": event_types_of(endpoint),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
    }


async def rotate_secret(
    session: AsyncSession, principal: Principal, settings: Settings, endpoint_id: str
) -> CreatedEndpoint:
    """A new secret; the old one keeps signing (beside it) for the grace period."""
    endpoint = await get_endpoint(session, principal, endpoint_id)
    now = utcnow()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + timedelta(
        hours=settings.webhooks_secret_grace_hours
    )
    endpoint.secret = new_secret()
    endpoint.updated_at = now
    await audit.record(
        session,
        principal.workspace_id,
        _actor(principal),
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint",
        endpoint.id,
        {"previous_secret_expires_at": (None, endpoint.previous_secret_expires_at)},
    )
    return CreatedEndpoint(endpoint, endpoint.secret)


async def delete_endpoint(session: AsyncSession, principal: Principal, endpoint_id: str) -> None:
    endpoint = await get_endpoint(session, principal, endpoint_id)
    await WebhookRepository(session).delete_endpoint(endpoint)
    await audit.record(
        session,
        principal.workspace_id,
        _actor(principal),
        "webhook_endpoint.deleted",
        "webhook_endpoint",
        endpoint_id,
        {"url": (endpoint.url, None)},
    )


def signing_keys_of(
    secret: str, previous: str | None, previous_expires_at: datetime | None, now: datetime
) -> list[str]:
    """The secrets a delivery is signed with: the current one, and the previous one while
    its grace period lasts."""
    keys = [secret]
    if previous and previous_expires_at is not None and previous_expires_at > now:
        keys.append(previous)
    return keys


# --------------------------------------------------------------------------------- events


def event_body(
    event_id: str, event_type: str, workspace_id: str, created: datetime, data: Any
) -> str:
    return json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "created_at": iso_millis(created),
            "workspace_id": workspace_id,
            "data": data,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


# The workspace's enabled endpoints, read once per transaction however many events it emits
# (a captured lead emits three), and again after any endpoint was added, changed or deleted
# (pending in the session, or flushed: see _forget_endpoints).
_ENDPOINTS = "leadline.webhooks.enabled_endpoints"


def _endpoints_changing(session: Session) -> bool:
    return any(
        isinstance(obj, WebhookEndpoint)
        for obj in itertools.chain(session.new, session.dirty, session.deleted)
    )


async def _enabled_endpoints(session: AsyncSession, workspace_id: str) -> list[WebhookEndpoint]:
    known: dict[str, list[WebhookEndpoint]] = session.info.setdefault(_ENDPOINTS, {})
    if workspace_id not in known or _endpoints_changing(session.sync_session):
        known[workspace_id] = await WebhookRepository(session).enabled_endpoints(workspace_id)
    return known[workspace_id]


@event.listens_for(Session, "after_flush")
def _forget_endpoints(session: Session, flush_context: Any) -> None:
    # During after_flush, new, dirty and deleted still hold what was just flushed.
    if _ENDPOINTS in session.info and _endpoints_changing(session):
        session.info.pop(_ENDPOINTS, None)


async def subscribers(
    session: AsyncSession, workspace_id: str, event_type: str
) -> list[WebhookEndpoint]:
    """The enabled endpoints of the workspace that ``event_type`` goes to: what ``emit`` sends
    to when given no endpoints, for callers emitting many events of one type at once."""
    return [
        endpoint
        for endpoint in await _enabled_endpoints(session, workspace_id)
        if subscribed(endpoint, event_type)
    ]


def _lead_of(data: Mapping[str, Any]) -> str | None:
    """The id of the lead an event's data is about, if it carries one (``data.lead.id``)."""
    lead = data.get("lead")
    lead_id = lead.get("id") if isinstance(lead, Mapping) else None
    return lead_id if isinstance(lead_id, str) else None


async def emit(
    session: AsyncSession,
    workspace_id: str,
    event_type: str,
    data: Mapping[str, Any],
    *,
    endpoints: Sequence[WebhookEndpoint] | None = None,
) -> WebhookEvent | None:
    """Queue ``event_type`` for every enabled endpoint subscribed to it (or for ``endpoints``),
    in the caller's transaction: nothing is sent unless, and until, it commits."""
    repo = WebhookRepository(session)
    targets = (
        list(endpoints)
        if endpoints is not None
        else await subscribers(session, workspace_id, event_type)
    )
    if not targets:
        return None
    now = utcnow()
    event_id = new_id("evt")
    event = WebhookEvent(
        id=event_id,
        workspace_id=workspace_id,
        type=event_type,
        body=event_body(event_id, event_type, workspace_id, now, dict(data)),
        created_at=now,
        lead_id=_lead_of(data),
    )
    deliveries = [
        WebhookDelivery(
            id=new_id("whd"),
            workspace_id=workspace_id,
            endpoint_id=endpoint.id,
            event_id=event_id,
            state=PENDING,
            attempts=0,
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
        )
        for endpoint in targets
    ]
    await repo.add(event)  # first: the deliveries refer to it
    await repo.add(*deliveries)
    await _wake_delivery(session, workspace_id)
    return event


# The delivery job this transaction enqueued: one sends everything it makes due, however many
# events it emits (an import emits one per lead).
_WAKING = "leadline.webhooks.delivery_job"


async def _wake_delivery(session: AsyncSession, workspace_id: str) -> None:
    queued = session.info.get(_WAKING)
    # Gone from the session when a savepoint that enqueued it was rolled back.
    if queued is not None and queued in session.sync_session:
        return
    session.info[_WAKING] = await jobs.enqueue(session, DELIVER, {}, workspace_id=workspace_id)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_delivery_job(session: Session) -> None:
    session.info.pop(_WAKING, None)


async def send_test(
    session: AsyncSession, principal: Principal, endpoint_id: str
) -> WebhookDelivery:
    endpoint = await get_endpoint(session, principal, endpoint_id)
    if not endpoint.enabled:
        raise Conflict(
            "the endpoint is disabled; enable it before testing it",
            details={"id": endpoint_id, "reason": endpoint.disabled_reason},
        )
    event = await emit(
        session,
        principal.workspace_id,
        TEST_EVENT,
        {"endpoint_id": endpoint.id, "message": "a test event from Leadline"},
        endpoints=[endpoint],
    )
    assert event is not None
    found = await WebhookRepository(session).deliveries_of_event(event.id)
    return found[0]


# ----------------------------------------------------------------------------- deliveries


@dataclass(frozen=True)
class DeliveryView:
    delivery: WebhookDelivery
    event: WebhookEvent
    attempts: list[WebhookAttempt]


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[DeliveryView]
    has_more: bool  # more deliveries follow the last one


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> DeliveryPage:
    """Up to ``limit`` deliveries to an endpoint, newest first, each with its attempts."""
    await get_endpoint(session, principal, endpoint_id)
    repo = WebhookRepository(session)
    found = await repo.deliveries(principal.workspace_id, endpoint_id, limit=limit + 1, after=after)
    rows, more = cursors.cut(found, limit)
    attempts = await repo.attempts([delivery.id for delivery, _ in rows])
    by_delivery: dict[str, list[WebhookAttempt]] = {}
    for attempt in attempts:
        by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
    views = [DeliveryView(d, e, by_delivery.get(d.id, [])) for d, e in rows]
    return DeliveryPage(deliveries=views, has_more=more)


@dataclass(frozen=True)
class LeadDelivery:
    """A delivery of an event about a lead, with where it went."""

    delivery: WebhookDelivery
    event: WebhookEvent
    endpoint_url: str


async def deliveries_of_lead(
    session: AsyncSession, workspace_id: str, lead_id: str, *, limit: int
) -> list[LeadDelivery]:
    """The newest ``limit`` deliveries of the workspace's events about the lead ``lead_id``
    (those sent since events keep their lead), newest first."""
    found = await WebhookRepository(session).deliveries_of_lead(workspace_id, lead_id, limit)
    return [LeadDelivery(delivery, event, url) for delivery, event, url in found]


async def _delivery(
    session: AsyncSession, principal: Principal, delivery_id: str, endpoint_id: str | None
) -> tuple[WebhookDelivery, WebhookEndpoint, WebhookEvent]:
    found = await WebhookRepository(session).delivery(principal.workspace_id, delivery_id)
    if found is None or (endpoint_id is not None and found[1].id != endpoint_id):
        raise NotFound(
            f"delivery '{delivery_id}' not found", details={"id": delivery_id}, resource="delivery"
        )
    return found


async def delivery_view(
    session: AsyncSession,
    principal: Principal,
    delivery_id: str,
    *,
    endpoint_id: str | None = None,
) -> DeliveryView:
    delivery, _, event = await _delivery(session, principal, delivery_id, endpoint_id)
    attempts = await WebhookRepository(session).attempts([delivery.id])
    return DeliveryView(delivery, event, attempts)


async def redeliver(
    session: AsyncSession,
    principal: Principal,
    delivery_id: str,
    *,
    endpoint_id: str | None = None,
) -> WebhookDelivery:
    """Send a delivery again (after it failed, or to replay one that succeeded)."""
    delivery, endpoint, _ = await _delivery(session, principal, delivery_id, endpoint_id)
    if not endpoint.enabled:
        raise Conflict(
            "the endpoint is disabled; enable it before redelivering to it",
            details={"id": delivery_id},
        )
    if delivery.state == PENDING:
        raise Conflict("this delivery is still being attempted", details={"id": delivery_id})
    now = utcnow()
    delivery.state = PENDING
    delivery.updated_at = delivery.next_attempt_at = now
    delivery.locked_by = delivery.locked_until = None
    await _wake_delivery(session, principal.workspace_id)
    await audit.record(
        session,
        principal.workspace_id,
        _actor(principal),
        "webhook_delivery.replayed",
        "webhook_delivery",
        delivery.id,
    )
    return delivery


async def delete_some_of_workspace(session: AsyncSession, workspace_id: str, batch: int) -> int:
    """Delete up to ``batch`` of a closed workspace's events (with their deliveries and
    attempts), for its purge; 0 once none is left. A transaction each time."""
    return await WebhookRepository(session).delete_some_events_of(workspace_id, batch)
