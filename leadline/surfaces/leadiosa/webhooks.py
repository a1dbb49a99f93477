"""``/webhooks``: endpoints, their signing secrets, test pings, and the delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import Response

from leadline.auth.roles import Permission
from leadline.config import Settings
from leadline.http import path_id
from leadline.kit import cursors
from leadline.kit.time import iso_millis
from leadline.models import WebhookEndpoint
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.dependencies import DEFAULT_LIMIT, After, Caller, Limit, Session
from leadline.surfaces.leadiosa.envelope import data, omit_empty, page
from leadline.webhooks import service as webhooks

router = APIRouter(tags=["webhooks"])

EndpointId = Annotated[str, Path(max_length=64, description="The endpoint's id (`wh_...`).")]
DeliveryId = Annotated[str, Path(max_length=64, description="The delivery's id (`whd_...`).")]


def app_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(app_settings)]

# ----------------------------------------------------------------------------- schemas


class NewEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, examples=["https://crm.example.com/hooks"])
    events: list[str] = Field(
        default_factory=list, max_length=50, description="Event types; empty means all."
    )
    description: str | None = Field(default=None, max_length=500)


class EndpointChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[str] | None = Field(default=None, max_length=50)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(
        default=None, description="false pauses deliveries; true re-enables a disabled endpoint."
    )


class Endpoint(BaseModel):
    id: str
    url: str
    description: str | SkipJsonSchema[None] = None
    events: list[str] = Field(description="Subscribed event types; empty means all.")
    enabled: bool
    disabled_reason: str | SkipJsonSchema[None] = None
    failing_since: datetime | SkipJsonSchema[None] = None
    secret: str | SkipJsonSchema[None] = Field(
        default=None, description="The signing secret: only in the answer that created it."
    )
    created_at: datetime
    updated_at: datetime


class EndpointEnvelope(BaseModel):
    data: Endpoint


class EndpointList(BaseModel):
    data: list[Endpoint]
    pagination: s.Pagination


class Attempt(BaseModel):
    number: int
    started_at: datetime
    status: int | SkipJsonSchema[None] = None
    latency_ms: int
    response_excerpt: str | SkipJsonSchema[None] = None
    error: str | SkipJsonSchema[None] = None


class Delivery(BaseModel):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    state: str = Field(description="pending, delivered or failed")
    attempts: int
    last_status: int | SkipJsonSchema[None] = None
    last_error: str | SkipJsonSchema[None] = None
    created_at: datetime
    delivered_at: datetime | SkipJsonSchema[None] = None
    history: list[Attempt] | SkipJsonSchema[None] = None


class DeliveryEnvelope(BaseModel):
    data: Delivery


class DeliveryList(BaseModel):
    data: list[Delivery]
    pagination: s.Pagination


class EventType(BaseModel):
    type: str
    description: str


class EventTypeList(BaseModel):
    data: list[EventType]


class Deleted(BaseModel):
    id: str
    deleted: bool


class DeletedEnvelope(BaseModel):
    data: Deleted


# ---------------------------------------------------------------------------- rendering


def _time(value: datetime | None) -> str | None:
    return iso_millis(value) if value is not None else None


def render_endpoint(endpoint: WebhookEndpoint, *, secret: str | None = None) -> dict[str, Any]:
    rendered = omit_empty(
        {
            "id": endpoint.id,
            "url": endpoint.url,
            "description": endpoint.description,
            "enabled": endpoint.enabled,
            "disabled_reason": endpoint.disabled_reason,
            "failing_since": _time(endpoint.failing_since),
            "secret": secret,
            "created_at": _time(endpoint.created_at),
            "updated_at": _time(endpoint.updated_at),
        }
    )
    rendered["events"] = webhooks.event_types_of(endpoint)
    return rendered


def render_delivery(view: webhooks.DeliveryView) -> dict[str, Any]:
    delivery = view.delivery
    return omit_empty(
        {
            "id": delivery.id,
            "endpoint_id": delivery.endpoint_id,
            "event_id": delivery.event_id,
            "event_type": view.event.type,
            "state": delivery.state,
            "attempts": delivery.attempts,
            "last_status": delivery.last_status,
            "last_error": delivery.last_error,
            "created_at": _time(delivery.created_at),
            "delivered_at": _time(delivery.delivered_at),
            "history": [
                omit_empty(
                    {
                        "number": attempt.number,
                        "started_at": _time(attempt.started_at),
                        "status": attempt.status,
                        "latency_ms": attempt.latency_ms,
                        "response_excerpt": attempt.response_excerpt,
                        "error": attempt.error,
                    }
                )
                for attempt in view.attempts
            ]
            or None,
        }
    )


def _position(key: dict[str, Any]) -> tuple[datetime, str]:
    return cursors.timestamp(key["created_at"]), cursors.identifier(key["id"])


def _key(row: Any) -> dict[str, Any]:
    return {"created_at": cursors.time_key(row.created_at), "id": row.id}


# ------------------------------------------------------------------------------- routes

# An endpoint, and not the list of event types beside it (GET /webhooks/event-types alone).
ENDPOINT = "/webhooks/" + path_id("endpoint_id", besides="event-types")


@router.get("/webhooks/event-types", response_model=EventTypeList, responses=s.responses())
async def event_types(caller: Caller) -> Response:
    """The event types an endpoint can subscribe to."""
    caller.require(Permission.WEBHOOKS_MANAGE)
    return data(
        [{"type": name, "description": text} for name, text in webhooks.EVENT_TYPES.items()]
    )


@router.get("/webhooks", response_model=EndpointList, responses=s.responses(400))
async def list_endpoints(
    session: Session, caller: Caller, limit: Limit = DEFAULT_LIMIT, after: After = None
) -> Response:
    """The workspace's endpoints, newest first."""
    caller.require(Permission.WEBHOOKS_MANAGE)
    found = await webhooks.list_endpoints(
        session,
        caller,
        limit=limit,
        after=cursors.resume(after, _position),
    )
    listed = cursors.page(found.endpoints, has_more=found.has_more, key=_key)
    return page(listed, (render_endpoint(endpoint) for endpoint in listed.items))


@router.post(
    "/webhooks",
    status_code=201,
    response_model=EndpointEnvelope,
    responses=s.responses(400, 413),
)
async def create_endpoint(
    session: Session, caller: Caller, settings: AppSettings, body: NewEndpoint
) -> Response:
    """A new endpoint. The answer holds its signing secret, which is never shown again."""
    caller.require(Permission.WEBHOOKS_MANAGE)
    created = await webhooks.create_endpoint(
        session,
        caller,
        settings,
        url=body.url,
        event_types=body.events,
        description=body.description,
    )
    return data(render_endpoint(created.endpoint, secret=created.secret), status_code=201)


@router.get(ENDPOINT, response_model=EndpointEnvelope, responses=s.responses(400, 404))
async def get_endpoint(session: Session, caller: Caller, endpoint_id: EndpointId) -> Response:
    caller.require(Permission.WEBHOOKS_MANAGE)
    return data(render_endpoint(await webhooks.get_endpoint(session, caller, endpoint_id)))


@router.post(
    ENDPOINT,
    response_model=EndpointEnvelope,
    responses=s.responses(400, 404, 413),
)
async def update_endpoint(
    session: Session,
    caller: Caller,
    settings: AppSettings,
    endpoint_id: EndpointId,
    body: EndpointChanges,
) -> Response:
    """Change an endpoint's URL, events, description, or pause and re-enable it."""
    caller.require(Permission.WEBHOOKS_MANAGE)
    endpoint = await webhooks.update_endpoint(
        session,
        caller,
        settings,
        endpoint_id,
        url=body.url,
        event_types=body.events,
        description=body.description,
        enabled=body.enabled,
    )
    return data(render_endpoint(endpoint))


@router.delete(ENDPOINT, response_model=DeletedEnvelope, responses=s.responses(400, 404))
async def delete_endpoint(session: Session, caller: Caller, endpoint_id: EndpointId) -> Response:
    """Delete an endpoint; its pending deliveries are dropped."""
    caller.require(Permission.WEBHOOKS_MANAGE)
    await webhooks.delete_endpoint(session, caller, endpoint_id)
    return data({"id": endpoint_id, "deleted": True})


@router.post(
    "/webhooks/{endpoint_id}/rotate-secret",
    response_model=EndpointEnvelope,
    responses=s.responses(400, 404),
)
async def rotate_secret(
    session: Session, caller: Caller, settings: AppSettings, endpoint_id: EndpointId
) -> Response:
    """A new signing secret (in this answer only); the old one keeps signing beside it for
    the grace period."""
    caller.require(Permission.WEBHOOKS_MANAGE)
    rotated = await webhooks.rotate_secret(session, caller, settings, endpoint_id)
    return data(render_endpoint(rotated.endpoint, secret=rotated.secret))


@router.post(
    "/webhooks/{endpoint_id}/test",
    status_code=202,
    response_model=DeliveryEnvelope,
    responses=s.responses(400, 404, 409),
)
async def send_test(session: Session, caller: Caller, endpoint_id: EndpointId) -> Response:
    """Queue a `webhook.test` event to this endpoint; follow it in the deliveries."""
    caller.require(Permission.WEBHOOKS_MANAGE)
    delivery = await webhooks.send_test(session, caller, endpoint_id)
    view = await webhooks.delivery_view(session, caller, delivery.id)
    return data(render_delivery(view), status_code=202)


@router.get(
    "/webhooks/{endpoint_id}/deliveries",
    response_model=DeliveryList,
    responses=s.responses(400, 404),
)
async def list_deliveries(
    session: Session,
    caller: Caller,
    endpoint_id: EndpointId,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Response:
    """Deliveries to this endpoint, newest first, each with every attempt."""
    caller.require(Permission.WEBHOOKS_MANAGE)
    found = await webhooks.list_deliveries(
        session,
        caller,
        endpoint_id,
        limit=limit,
        after=cursors.resume(after, _position),
    )
    listed = cursors.page(
        found.deliveries, has_more=found.has_more, key=lambda view: _key(view.delivery)
    )
    return page(listed, (render_delivery(view) for view in listed.items))


@router.post(
    "/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryEnvelope,
    responses=s.responses(400, 404, 409),
)
async def redeliver(
    session: Session, caller: Caller, endpoint_id: EndpointId, delivery_id: DeliveryId
) -> Response:
    """Send a delivery again, with the same event id."""
    caller.require(Permission.WEBHOOKS_MANAGE)
    await webhooks.get_endpoint(session, caller, endpoint_id)
    await webhooks.redeliver(session, caller, delivery_id, endpoint_id=endpoint_id)
    view = await webhooks.delivery_view(session, caller, delivery_id, endpoint_id=endpoint_id)
    return data(render_delivery(view), status_code=202)
