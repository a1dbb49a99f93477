"""Webhook deliveries end to end: a lead changes through the API, a worker signs and POSTs the
event to a real local receiver, which checks it with the Standard Webhooks reference library
and with an independent HMAC of the Leadiosa header."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import timedelta
from typing import Any

import pytest
import standardwebhooks
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.auth import service as auth
from leadline.config import Settings
from leadline.kit.time import utcnow
from leadline.models import AuditEvent, Job, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from leadline.webhooks import service as webhooks
from leadline.webhooks.safety import UnsafeTarget
from tests.fixtures.factories import run_in_transaction
from tests.fixtures.jobs import run_worker_until
from tests.fixtures.network import fake_network
from tests.fixtures.receiver import Answer, Receiver


def add_endpoint(
    settings: Settings, token: str, url: str, events: tuple[str, ...] = ()
) -> webhooks.CreatedEndpoint:
    async def work(session: AsyncSession) -> webhooks.CreatedEndpoint:
        principal = await auth.authenticate(session, token)
        return await webhooks.create_endpoint(
            session, principal, settings, url=url, event_types=events
        )

    return run_in_transaction(settings, work)


def deliveries(settings: Settings) -> list[WebhookDelivery]:
    async def work(session: AsyncSession) -> list[WebhookDelivery]:
        return list(await session.scalars(select(WebhookDelivery)))

    return run_in_transaction(settings, work)


def attempts(settings: Settings) -> list[WebhookAttempt]:
    async def work(session: AsyncSession) -> list[WebhookAttempt]:
        return list(await session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.number)))

    return run_in_transaction(settings, work)


def endpoint(settings: Settings, endpoint_id: str) -> WebhookEndpoint:
    async def work(session: AsyncSession) -> WebhookEndpoint:
        found = await session.get(WebhookEndpoint, endpoint_id)
        assert found is not None
        return found

    return run_in_transaction(settings, work)


def settled(settings: Settings, count: int = 1) -> bool:
    found = deliveries(settings)
    return len(found) >= count and all(d.state != "pending" for d in found)


def verify(secret: str, request: Any) -> dict[str, Any]:
    """Check one received request both ways, and return its event."""
    payload: dict[str, Any] = standardwebhooks.Webhook(secret).verify(request.body, request.headers)
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-leadiosa-signature"] == expected
    assert json.loads(request.body) == payload
    return payload


def test_a_new_lead_is_delivered_signed_both_ways(
    hooks: Settings, api: TestClient, admin_key: str, local: Receiver
) -> None:
    created = add_endpoint(hooks, admin_key, local.url)
    assert created.secret.startswith("whsec_")
    lead = api.post("/api/leads", json={"name": "Ada", "email": "ada@example.com"}).json()
    run_worker_until(hooks, lambda: settled(hooks))

    (request,) = local.received
    event = verify(created.secret, request)
    assert set(event) == {"id", "type", "created_at", "workspace_id", "data"}
    assert event["type"] == "lead.created"
    assert event["id"] == request.headers["webhook-id"]
    assert event["data"]["lead"]["id"] == lead["data"]["id"]
    assert event["data"]["lead"]["email"] == "ada@example.com"
    assert "phone" not in event["data"]["lead"]  # empty fields are left out
    assert request.headers["content-type"] == "application/json"
    (delivery,) = deliveries(hooks)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)
    (attempt,) = attempts(hooks)
    assert (attempt.status, attempt.response_excerpt, attempt.error) == (200, "ok", None)


def test_only_subscribed_events_are_sent(
    hooks: Settings, api: TestClient, admin_key: str, local: Receiver
) -> None:
    created = add_endpoint(hooks, admin_key, local.url, ("lead.status_changed",))
    lead_id = api.post("/api/leads", json={"name": "Ada"}).json()["data"]["id"]
    assert api.patch("/api/leads", json={"id": lead_id, "status": "won"}).status_code == 200
    assert api.post("/api/leads", json={"email": "broken"}).status_code == 400
    run_worker_until(hooks, lambda: settled(hooks))
    (request,) = local.received
    event = verify(created.secret, request)
    assert event["type"] == "lead.status_changed"
    assert (event["data"]["from"], event["data"]["to"]) == ("open", "won")
    assert event["data"]["lead"]["status"] == "won"


def test_failures_are_retried_and_each_attempt_is_logged(
    hooks: Settings, api: TestClient, admin_key: str, local: Receiver
) -> None:
    add_endpoint(hooks, admin_key, local.url)
    local.answer(Answer(500, body=b"oops"), Answer(502))
    api.post("/api/leads", json={"name": "Ada"})
    run_worker_until(hooks, lambda: settled(hooks))
    assert [a.status for a in attempts(hooks)] == [500, 502, 200]
    assert attempts(hooks)[0].response_excerpt == "oops"
    assert len({r.headers["webhook-id"] for r in local.received}) == 1  # one event, three tries
    assert deliveries(hooks)[0].state == "delivered"
    assert endpoint(hooks, deliveries(hooks)[0].endpoint_id).failing_since is None


def test_retry_after_on_429_is_honoured(
    hooks: Settings, api: TestClient, admin_key: str, local: Receiver
) -> None:
    add_endpoint(hooks, admin_key, local.url)
    local.answer(Answer(429, headers={"Retry-After": "3600"}))
    api.post("/api/leads", json={"name": "Ada"})
    run_worker_until(hooks, lambda: len(attempts(hooks)) == 1 and _retry_queued(hooks))
    (delivery,) = deliveries(hooks)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, 429)
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at > utcnow() + timedelta(minutes=55)
    assert delivery.last_error == "the receiver answered 429; Retry-After 3600s"
    assert delivery.locked_by is None
    # A delivery job waits for that moment.
    assert delivery.next_attempt_at in _queued_delivery_jobs(hooks)


def _queued_delivery_jobs(settings: Settings) -> list[Any]:
    async def work(session: AsyncSession) -> list[Any]:
        rows = await session.scalars(
            select(Job.run_at).where(Job.kind == webhooks.DELIVER, Job.state == "queued")
        )
        return list(rows)

    return run_in_transaction(settings, work)


def _retry_queued(settings: Settings) -> bool:
    return any(when > utcnow() for when in _queued_delivery_jobs(settings))


def test_410_disables_the_endpoint_and_says_so(
    hooks: Settings, api: TestClient, admin_key: str, local: Receiver
) -> None:
    gone = add_endpoint(hooks, admin_key, local.url + "/gone", ("lead.created",))
    watcher = add_endpoint(hooks, admin_key, local.url + "/watch", ("webhook_endpoint.disabled",))
    local.answer(Answer(410))
    api.post("/api/leads", json={"name": "Ada"})
    run_worker_until(hooks, lambda: settled(hooks, 2))
    disabled = endpoint(hooks, gone.endpoint.id)
    assert not disabled.enabled
    assert "410" in (disabled.disabled_reason or "")
    notice = verify(watcher.secret, local.received[1])
    assert notice["type"] == "webhook_endpoint.disabled"
    assert notice["data"]["endpoint_id"] == gone.endpoint.id
    assert [d.state for d in deliveries(hooks)].count("failed") == 1

    async def audited(session: AsyncSession) -> list[str]:
        rows = await session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq))
        return list(rows)

    assert "webhook_endpoint.disabled" in run_in_transaction(hooks, audited)
    # Nothing more goes to a disabled endpoint.
    api.post("/api/leads", json={"name": "Grace"})
    run_worker_until(hooks, lambda: settled(hooks, 2))
    assert len(local.received) == 2


def test_an_endpoint_failing_for_five_days_is_disabled(
    hooks: Settings, api: TestClient, admin_key: str, local: Receiver
) -> None:
    failing = add_endpoint(hooks, admin_key, local.url)

    async def failing_for_six_days(session: AsyncSession) -> None:
        await session.execute(
            update(WebhookEndpoint).values(failing_since=utcnow() - timedelta(days=6))
        )

    run_in_transaction(hooks, failing_for_six_days)
    local.answer(Answer(503))
    api.post("/api/leads", json={"name": "Ada"})
    run_worker_until(hooks, lambda: settled(hooks))
    stopped = endpoint(hooks, failing.endpoint.id)
    assert not stopped.enabled
    assert stopped.disabled_reason == "every delivery failed for five days"
    assert deliveries(hooks)[0].state == "failed"


def test_a_delivery_fails_after_its_last_attempt(
    hooks: Settings, api: TestClient, admin_key: str, local: Receiver
) -> None:
    add_endpoint(hooks, admin_key, local.url)
    local.answer(*[Answer(500)] * 8)
    api.post("/api/leads", json={"name": "Ada"})
    run_worker_until(hooks, lambda: settled(hooks))
    assert len(attempts(hooks)) == webhooks.ATTEMPTS == 8
    assert deliveries(hooks)[0].state == "failed"
    assert deliveries(hooks)[0].last_error == "the receiver answered 500"


def test_a_slow_receiver_times_out(
    hooks: Settings, api: TestClient, admin_key: str, local: Receiver
) -> None:
    add_endpoint(hooks, admin_key, local.url)
    local.answer(Answer(200, delay=5))
    api.post("/api/leads", json={"name": "Ada"})
    run_worker_until(hooks, lambda: settled(hooks))
    first = attempts(hooks)[0]
    assert first.status is None
    assert first.error == "no answer within 2 seconds"
    assert deliveries(hooks)[0].state == "delivered"  # the retry was answered at once


def test_rotation_signs_with_both_secrets_during_the_grace_period(
    hooks: Settings, api: TestClient, admin_key: str, local: Receiver
) -> None:
    old = add_endpoint(hooks, admin_key, local.url)

    async def rotate(session: AsyncSession) -> webhooks.CreatedEndpoint:
        principal = await auth.authenticate(session, admin_key)
        return await webhooks.rotate_secret(session, principal, hooks, old.endpoint.id)

    new = run_in_transaction(hooks, rotate)
    assert new.secret != old.secret
    api.post("/api/leads", json={"name": "Ada"})
    run_worker_until(hooks, lambda: settled(hooks))
    (request,) = local.received
    assert len(request.headers["webhook-signature"].split()) == 2
    verify(new.secret, request)
    standardwebhooks.Webhook(old.secret).verify(request.body, request.headers)
    previous = hmac.new(old.secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-leadiosa-signature-previous"] == previous


PRIVATE_TARGETS = {
    "https://127.0.0.1/hook": "127.0.0.1",
    "https://10.1.2.3/hook": "10.1.2.3",
    "https://169.254.169.254/latest": "169.254.169.254",
    "https://[::1]/hook": "::1",
    "https://[::ffff:127.0.0.1]/hook": "::ffff:7f00:1 (which leads to 127.0.0.1)",
    "https://[64:ff9b::a9fe:a9fe]/hook": "64:ff9b::a9fe:a9fe (which leads to 169.254.169.254)",
    "https://[2002:a00:1::1]/hook": "2002:a00:1::1 (which leads to 10.0.0.1)",
}


def test_private_targets_are_refused_unless_allowed(
    settings: Settings, hooks: Settings, admin_key: str
) -> None:
    for url, address in PRIVATE_TARGETS.items():
        with pytest.raises(UnsafeTarget, match=f"resolves to {re.escape(address)}, which is not"):
            add_endpoint(settings, admin_key, url)
    with pytest.raises(UnsafeTarget, match=r"'localhost' resolves to .*, which is not a public"):
        add_endpoint(settings, admin_key, "https://localhost/hook")
    for url in ("http://example.com/hook", "ftp://example.com/hook"):
        with pytest.raises(UnsafeTarget, match=r"^url must be an https:// URL$"):
            add_endpoint(settings, admin_key, url)
    assert endpoint_urls(settings) == []

    # Allowed by the setting (for a receiver on the same machine or network): private
    # addresses and plain http are taken; other schemes still are not.
    allowed = [*PRIVATE_TARGETS, "https://localhost/hook", "http://10.1.2.3:8080/hook"]
    for url in allowed:
        add_endpoint(hooks, admin_key, url)
    with pytest.raises(UnsafeTarget, match=r"^url must be http\(s\)$"):
        add_endpoint(hooks, admin_key, "ftp://example.com/hook")
    assert sorted(endpoint_urls(settings)) == sorted(allowed)


def endpoint_urls(settings: Settings) -> list[str]:
    async def work(session: AsyncSession) -> list[str]:
        return list(await session.scalars(select(WebhookEndpoint.url)))

    return run_in_transaction(settings, work)


def test_a_target_that_became_private_is_not_called(
    hooks: Settings, settings: Settings, api: TestClient, admin_key: str, local: Receiver
) -> None:
    created = add_endpoint(hooks, admin_key, local.url)

    # https, so that the worker's check reaches the address (the local receiver speaks http,
    # which the strict settings refuse first, before looking at where the host points).
    async def over_https(session: AsyncSession) -> None:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == created.endpoint.id)
            .values(url=local.url.replace("http://", "https://", 1))
        )

    run_in_transaction(hooks, over_https)
    api.post("/api/leads", json={"name": "Ada"})
    strict = Settings(database_url=settings.database_url, jobs_poll_seconds=0.05)
    run_worker_until(strict, lambda: settled(strict))
    assert local.received == []
    (delivery,) = deliveries(strict)
    assert delivery.state == "failed"
    assert delivery.last_error is not None
    assert "resolves to 127.0.0.1, which is not a public address" in delivery.last_error


def test_redelivery_sends_the_same_event_again(
    hooks: Settings, api: TestClient, admin_key: str, local: Receiver
) -> None:
    created = add_endpoint(hooks, admin_key, local.url)
    api.post("/api/leads", json={"name": "Ada"})
    run_worker_until(hooks, lambda: settled(hooks))

    delivery_id = deliveries(hooks)[0].id

    async def redeliver(session: AsyncSession) -> None:
        principal = await auth.authenticate(session, admin_key)
        await webhooks.redeliver(session, principal, delivery_id)

    run_in_transaction(hooks, redeliver)
    run_worker_until(hooks, lambda: len(local.received) == 2 and settled(hooks))
    first, second = local.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    verify(created.secret, second)
    assert [a.number for a in attempts(hooks)] == [1, 2]


def test_an_endpoint_changed_within_a_transaction_is_seen_by_its_next_event(
    hooks: Settings, admin_key: str
) -> None:
    """The endpoints are read once per transaction, and read again after one of them changes,
    through the service or on the row itself (as a failing delivery disables its endpoint),
    flushed or not yet."""

    async def work(session: AsyncSession) -> list[int]:
        principal = await auth.authenticate(session, admin_key)
        reached = []
        for step in range(5):
            if step == 1:
                first = await webhooks.create_endpoint(
                    session, principal, hooks, url="http://127.0.0.1:9/a"
                )
            if step == 2:
                await webhooks.update_endpoint(
                    session, principal, hooks, first.endpoint.id, enabled=False
                )
                second = await webhooks.create_endpoint(
                    session, principal, hooks, url="http://127.0.0.1:9/b"
                )
                third = await webhooks.create_endpoint(
                    session, principal, hooks, url="http://127.0.0.1:9/c"
                )
            if step == 3:
                second.endpoint.enabled = False  # not flushed yet
            if step == 4:
                third.endpoint.enabled = False
                await session.flush()
            await webhooks.emit(session, principal.workspace_id, "lead.created", {"n": step})
            reached.append(len(list(await session.scalars(select(WebhookDelivery.id)))))
        return reached

    # Nothing to reach, then the first endpoint, then the two new ones and not the disabled
    # one, then only the third, then none.
    assert run_in_transaction(hooks, work) == [0, 1, 3, 4, 4]


def test_a_name_is_looked_up_once_and_sent_its_own_host(
    hooks: Settings, api: TestClient, admin_key: str, local: Receiver
) -> None:
    port = int(local.url.rsplit(":", 1)[1].split("/", 1)[0])
    with fake_network(["127.0.0.1"]) as network:
        add_endpoint(hooks, admin_key, f"http://receiver.example.test:{port}/hooks")
        api.post("/api/leads", json={"name": "Ada"})
        run_worker_until(hooks, lambda: settled(hooks))
    assert deliveries(hooks)[0].state == "delivered"
    (request,) = local.received
    assert request.headers["host"] == f"receiver.example.test:{port}"
    # Private targets are allowed here, so saving the endpoint looked nothing up; the delivery
    # looked the name up once, and connected to that answer rather than to the name.
    assert network.dns.lookups == ["receiver.example.test"]
    assert network.connects == [("127.0.0.1", port)]


def test_a_name_that_changes_its_answer_is_reached_only_where_it_was_checked(
    settings: Settings, api: TestClient, admin_key: str, local: Receiver
) -> None:
    """DNS rebinding: the name answers a public address to the check when the endpoint is
    saved and to the check before the first attempt, and 127.0.0.1 to any later lookup. The
    first attempt must go to the public address it checked (which the test network refuses to
    reach), never to this machine; the second attempt's check sees 127.0.0.1 and gives up."""
    port = int(local.url.rsplit(":", 1)[1].split("/", 1)[0])
    strict = Settings(
        database_url=settings.database_url, webhooks_timeout_seconds=2, jobs_poll_seconds=0.05
    )
    with fake_network(["93.184.216.34"], ["93.184.216.34"], ["127.0.0.1"]) as network:
        add_endpoint(strict, admin_key, f"https://rebind.example.test:{port}/hooks")
        api.post("/api/leads", json={"name": "Ada"})
        run_worker_until(strict, lambda: settled(strict))
    # One lookup when saved, one per attempt: none by the HTTP client.
    assert network.dns.lookups == ["rebind.example.test"] * 3
    assert network.connects == [("93.184.216.34", port)]
    assert local.received == []
    first, second = attempts(strict)
    assert first.status is None
    assert "the test network does not reach 93.184.216.34" in (first.error or "")
    assert "resolves to 127.0.0.1, which is not a public address" in (second.error or "")
    assert deliveries(strict)[0].state == "failed"


def test_redirects_are_not_followed(
    hooks: Settings, api: TestClient, admin_key: str, local: Receiver
) -> None:
    add_endpoint(hooks, admin_key, local.url)
    # 307 keeps the method, so a client that followed it would POST to /elsewhere.
    local.answer(Answer(307, headers={"Location": local.url + "/elsewhere"}))
    api.post("/api/leads", json={"name": "Ada"})
    run_worker_until(hooks, lambda: settled(hooks))
    assert [r.path for r in local.received] == ["/hooks", "/hooks"]
    assert [a.status for a in attempts(hooks)] == [307, 200]
    assert attempts(hooks)[0].error is None  # an answer, logged with its status


def test_a_url_with_control_characters_is_not_called(
    hooks: Settings, api: TestClient, admin_key: str, local: Receiver
) -> None:
    created = add_endpoint(hooks, admin_key, local.url)
    with pytest.raises(UnsafeTarget, match=r"^url must not contain control characters"):
        add_endpoint(hooks, admin_key, local.url + "\r\nX-Injected: 1")

    # Saved before URLs were checked for them, say.
    async def smuggle(session: AsyncSession) -> None:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == created.endpoint.id)
            .values(url=local.url + "?a=1\r\nX-Injected: 1")
        )

    run_in_transaction(hooks, smuggle)
    api.post("/api/leads", json={"name": "Ada"})
    run_worker_until(hooks, lambda: settled(hooks))
    assert local.received == []
    (delivery,) = deliveries(hooks)
    assert delivery.state == "failed"
    assert (delivery.last_error or "").startswith(
        "url must not contain control characters or spaces (found U+000D"
    )
