"""Deliveries in batches: many to one endpoint in one job over kept-alive connections, a full
batch handing on to the next job, failing and dead endpoints beside healthy ones, each
delivery retried on its own schedule, and batches whose job stopped taken back."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.config import Settings
from leadline.db import Database
from leadline.jobs.worker import Worker
from leadline.kit.time import utcnow
from leadline.models import Job, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from leadline.webhooks import service as webhooks
from leadline.webhooks.repository import WebhookRepository
from tests.fixtures.factories import run_in_transaction
from tests.fixtures.jobs import run_worker_until
from tests.fixtures.receiver import Answer, Receiver, receiver
from tests.webhooks.test_delivery import add_endpoint, deliveries, endpoint, settled, verify


def emit(settings: Settings, workspace_id: str, count: int) -> None:
    """``count`` events in one transaction, as an import's batch emits them."""

    async def work(session: AsyncSession) -> None:
        for n in range(count):
            await webhooks.emit(session, workspace_id, "lead.created", {"n": n})

    run_in_transaction(settings, work)


def delivery_jobs(settings: Settings) -> list[Job]:
    async def work(session: AsyncSession) -> list[Job]:
        rows = await session.scalars(select(Job).where(Job.kind == webhooks.DELIVER))
        return list(rows)

    return run_in_transaction(settings, work)


def attempts_by_delivery(settings: Settings) -> dict[str, list[tuple[int, int | None]]]:
    """(number, status) of each delivery's attempts, in order."""

    async def work(session: AsyncSession) -> dict[str, list[tuple[int, int | None]]]:
        rows = await session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.number))
        found: dict[str, list[tuple[int, int | None]]] = {}
        for attempt in rows:
            found.setdefault(attempt.delivery_id, []).append((attempt.number, attempt.status))
        return found

    return run_in_transaction(settings, work)


def workspace_of(settings: Settings, endpoint_id: str) -> str:
    return next(d for d in deliveries(settings) if d.endpoint_id == endpoint_id).workspace_id


def test_many_deliveries_to_one_endpoint_go_in_one_job_over_kept_connections(
    hooks: Settings, admin_key: str
) -> None:
    with receiver(keep_alive=True) as local:
        created = add_endpoint(hooks, admin_key, local.url)
        emit(hooks, created.endpoint.workspace_id, 30)
        run_worker_until(hooks, lambda: settled(hooks, 30))

    assert [d.state for d in deliveries(hooks)] == ["delivered"] * 30
    assert len(local.received) == 30
    events = [verify(created.secret, request) for request in local.received]
    assert sorted(event["data"]["n"] for event in events) == list(range(30))
    assert all(tries == [(1, 200)] for tries in attempts_by_delivery(hooks).values())
    # The transaction's one job sent them all...
    (job,) = delivery_jobs(hooks)
    assert job.state == "succeeded"
    # ...over no more connections than a receiver is given, each used again and again.
    connections = {request.peer for request in local.received}
    assert len(connections) <= hooks.webhooks_connections_per_host


def test_a_full_batch_hands_on_to_the_next_job(hooks: Settings, admin_key: str) -> None:
    small = hooks.model_copy(update={"webhooks_batch_size": 10})
    with receiver(keep_alive=True) as local:
        created = add_endpoint(small, admin_key, local.url)
        emit(small, created.endpoint.workspace_id, 25)
        run_worker_until(small, lambda: settled(small, 25))

    # Batches of 10, 10 and 5: the two full ones each enqueued the next job.
    jobs = delivery_jobs(small)
    assert [job.state for job in jobs] == ["succeeded"] * 3
    ids = Counter(request.headers["webhook-id"] for request in local.received)
    assert len(ids) == 25
    assert set(ids.values()) == {1}  # each sent once
    assert all(tries == [(1, 200)] for tries in attempts_by_delivery(small).values())


def test_a_failing_endpoint_beside_a_healthy_one(hooks: Settings, admin_key: str) -> None:
    with receiver(keep_alive=True) as healthy, receiver() as failing:
        good = add_endpoint(hooks, admin_key, healthy.url)
        bad = add_endpoint(hooks, admin_key, failing.url)
        # Each of the failing endpoint's five deliveries fails once, then goes through.
        failing.answer(*[Answer(500, body=b"down")] * 5)
        emit(hooks, good.endpoint.workspace_id, 5)
        run_worker_until(hooks, lambda: settled(hooks, 10))

    tries = attempts_by_delivery(hooks)
    by_endpoint: dict[str, list[WebhookDelivery]] = {}
    for delivery in deliveries(hooks):
        by_endpoint.setdefault(delivery.endpoint_id, []).append(delivery)
    for delivery in by_endpoint[good.endpoint.id]:
        assert (delivery.state, delivery.attempts) == ("delivered", 1)
        assert tries[delivery.id] == [(1, 200)]
    for delivery in by_endpoint[bad.endpoint.id]:
        # Retried on its own schedule, and its attempts numbered as its own.
        assert (delivery.state, delivery.attempts) == ("delivered", 2)
        assert tries[delivery.id] == [(1, 500), (2, 200)]
    assert len(healthy.received) == 5
    assert len(failing.received) == 10


def test_a_dead_endpoint_fails_its_deliveries_and_not_the_others(
    hooks: Settings, admin_key: str
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    with receiver(keep_alive=True) as healthy:
        good = add_endpoint(hooks, admin_key, healthy.url)
        dead = add_endpoint(hooks, admin_key, f"http://127.0.0.1:{dead_port}/hooks")
        emit(hooks, good.endpoint.workspace_id, 4)
        run_worker_until(hooks, lambda: settled(hooks, 8))

    tries = attempts_by_delivery(hooks)
    for delivery in deliveries(hooks):
        if delivery.endpoint_id == good.endpoint.id:
            assert (delivery.state, tries[delivery.id]) == ("delivered", [(1, 200)])
        else:
            assert delivery.endpoint_id == dead.endpoint.id
            assert delivery.state == "failed"
            assert [n for n, _ in tries[delivery.id]] == list(range(1, webhooks.ATTEMPTS + 1))
            assert (delivery.last_error or "").startswith("ConnectError: ")
    assert len(healthy.received) == 4


def _lease_to(settings: Settings, holder: str, until_offset: timedelta) -> int:
    """Claim every due delivery for ``holder`` as a delivery job would, leased until now plus
    ``until_offset``; returns how many."""

    async def work(session: AsyncSession) -> int:
        now = utcnow()
        claimed = await WebhookRepository(session).claim(holder, now, now + until_offset, 100)
        return len(claimed)

    return run_in_transaction(settings, work)


def test_a_batch_whose_worker_died_is_taken_back_by_its_job(
    hooks: Settings, admin_key: str, local: Receiver
) -> None:
    created = add_endpoint(hooks, admin_key, local.url)
    emit(hooks, created.endpoint.workspace_id, 3)
    (job,) = delivery_jobs(hooks)

    # A worker took the job, the job its batch (leased for an hour), and the worker died: the
    # job's lease ran out, its deliveries' has not.
    async def died(session: AsyncSession) -> None:
        await session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(
                state="running",
                attempts=1,
                locked_by="a worker that died",
                locked_until=utcnow() - timedelta(seconds=1),
            )
        )

    run_in_transaction(hooks, died)
    assert _lease_to(hooks, job.id, timedelta(hours=1)) == 3

    # Queued again by the next worker, the job takes back its own batch and sends it (and
    # finishes: its deliveries settle before the job records its own end).
    run_worker_until(
        hooks,
        lambda: settled(hooks, 3) and all(j.state == "succeeded" for j in delivery_jobs(hooks)),
    )
    assert len(local.received) == 3
    for delivery in deliveries(hooks):
        assert (delivery.state, delivery.attempts, delivery.locked_by) == ("delivered", 2, None)
    # The lost run counted as an attempt, and is not in the log: it may or may not have sent.
    assert all(tries == [(2, 200)] for tries in attempts_by_delivery(hooks).values())
    (rerun,) = delivery_jobs(hooks)
    assert (rerun.state, rerun.attempts) == ("succeeded", 2)


def test_a_batch_whose_lease_ran_out_is_taken_over(
    hooks: Settings, admin_key: str, local: Receiver
) -> None:
    created = add_endpoint(hooks, admin_key, local.url)
    workspace_id = created.endpoint.workspace_id
    emit(hooks, workspace_id, 3)
    assert _lease_to(hooks, "job_elsewhere", timedelta(hours=1)) == 3

    # Held: the transaction's job runs and finds nothing it may take.
    run_worker_until(hooks, lambda: delivery_jobs(hooks)[0].state == "succeeded")
    assert local.received == []
    assert {d.locked_by for d in deliveries(hooks)} == {"job_elsewhere"}

    # The lease runs out; the next delivery job takes the batch over with its own.
    async def expire(session: AsyncSession) -> None:
        await session.execute(
            update(WebhookDelivery).values(locked_until=utcnow() - timedelta(seconds=1))
        )

    run_in_transaction(hooks, expire)
    emit(hooks, workspace_id, 1)
    run_worker_until(hooks, lambda: settled(hooks, 4))
    assert len(local.received) == 4
    assert sorted(d.attempts for d in deliveries(hooks)) == [1, 2, 2, 2]
    assert {d.state for d in deliveries(hooks)} == {"delivered"}


def test_a_savepoint_rolled_back_does_not_take_the_delivery_job_with_it(
    hooks: Settings, admin_key: str, local: Receiver
) -> None:
    """The first event of a transaction enqueues its delivery job; should a savepoint that
    held it roll back, the next event enqueues another."""
    created = add_endpoint(hooks, admin_key, local.url)
    workspace_id = created.endpoint.workspace_id

    async def work(session: AsyncSession) -> None:
        nested = await session.begin_nested()
        await webhooks.emit(session, workspace_id, "lead.created", {"n": 0})
        await nested.rollback()
        await webhooks.emit(session, workspace_id, "lead.created", {"n": 1})

    run_in_transaction(hooks, work)
    assert len(delivery_jobs(hooks)) == 1
    run_worker_until(hooks, lambda: settled(hooks, 1))
    (request,) = local.received
    assert verify(created.secret, request)["data"] == {"n": 1}


def test_a_failing_endpoint_gets_one_request_per_connection_a_batch(
    hooks: Settings, admin_key: str, local: Receiver
) -> None:
    paced = hooks.model_copy(
        update={"webhooks_connections_per_host": 2, "webhooks_timeout_seconds": 60}
    )
    created = add_endpoint(paced, admin_key, local.url)

    async def failing(session: AsyncSession) -> None:
        await session.execute(update(WebhookEndpoint).values(failing_since=utcnow()))

    run_in_transaction(paced, failing)
    emit(paced, created.endpoint.workspace_id, 6)
    run_worker_until(paced, lambda: settled_count(paced) == 2)

    # Two sent (one per connection); the other four handed back unattempted, due after one
    # timeout, with a delivery job waiting for them.
    assert len(local.received) == 2
    waiting = [d for d in deliveries(paced) if d.state == "pending"]
    assert len(waiting) == 4
    assert {(d.attempts, d.locked_by) for d in waiting} == {(0, None)}
    due = {d.next_attempt_at for d in waiting}
    assert len(due) == 1
    (when,) = due
    assert when is not None
    assert when > utcnow() + timedelta(seconds=30)
    assert when in [job.run_at for job in delivery_jobs(paced) if job.state == "queued"]
    assert endpoint(paced, created.endpoint.id).failing_since is None  # they went through

    # Their time comes: sent as any others.
    async def now_due(session: AsyncSession) -> None:
        await session.execute(update(WebhookDelivery).values(next_attempt_at=utcnow()))
        await session.execute(update(Job).where(Job.state == "queued").values(run_at=utcnow()))

    run_in_transaction(paced, now_due)
    run_worker_until(paced, lambda: settled(paced, 6))
    assert len(local.received) == 6
    assert all(tries == [(1, 200)] for tries in attempts_by_delivery(paced).values())


def settled_count(settings: Settings) -> int:
    return sum(1 for d in deliveries(settings) if d.state != "pending")


def test_a_worker_stopping_mid_batch_hands_the_batch_back(
    hooks: Settings, admin_key: str, local: Receiver
) -> None:
    created = add_endpoint(hooks, admin_key, local.url)
    local.answer(Answer(200, delay=3))
    emit(hooks, created.endpoint.workspace_id, 1)

    async def stopped_while_sending() -> None:
        db = Database(hooks)
        stop = asyncio.Event()
        runner = asyncio.create_task(Worker(db, hooks, concurrency=4, grace=0.1).run(stop))
        try:
            deadline = time.monotonic() + 30
            while not local.received:  # the request is out; its answer is seconds away
                assert time.monotonic() < deadline, "the delivery was never sent"
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            await runner
            await db.dispose()

    asyncio.run(stopped_while_sending())
    # Handed back as if never taken: no attempt counted or logged, the job queued again.
    (delivery,) = deliveries(hooks)
    assert (delivery.state, delivery.attempts, delivery.locked_by) == ("pending", 0, None)
    assert attempts_by_delivery(hooks) == {}
    (job,) = delivery_jobs(hooks)
    assert (job.state, job.attempts) == ("queued", 0)

    run_worker_until(hooks, lambda: settled(hooks, 1))
    (delivery,) = deliveries(hooks)
    assert (delivery.state, delivery.attempts) == ("delivered", 1)
    assert len(local.received) == 2  # it may reach the receiver twice: at least once
