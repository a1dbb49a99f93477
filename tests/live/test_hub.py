"""The hub: fan-out within a process and across processes (Redis), resuming, slow subscribers."""

from __future__ import annotations

import asyncio

from starlette.testclient import TestClient

from leadline import live
from leadline.app import create_app
from leadline.config import Settings
from leadline.live import Hub, LiveEvent
from tests.fixtures.redis import redis_url  # noqa: F401

WAIT = 5.0


def message(seq: int) -> LiveEvent:
    return LiveEvent(kind="message.created", data={"seq": seq}, id=seq)


def test_every_subscriber_of_a_topic_gets_each_event_and_no_other_topic() -> None:
    async def scenario() -> None:
        hub = Hub()
        first, second = hub.subscribe("w:conversation:a"), hub.subscribe("w:conversation:a")
        other = hub.subscribe("w:conversation:b")
        hub.publish("w:conversation:a", message(1))
        hub.publish("w:conversation:a", LiveEvent(kind="typing", data={"who": "operator"}))
        for sub in (first, second):
            got = [await sub.next(WAIT), await sub.next(WAIT)]
            assert [(e.kind, e.id) for e in got if e] == [("message.created", 1), ("typing", None)]
        assert await other.next(0.05) is None
        first.close()
        assert hub.subscribers("w:conversation:a") == 1
        await hub.close()
        assert hub.subscribers("w:conversation:a") == 0

    asyncio.run(scenario())


def test_events_at_or_before_the_last_event_id_are_skipped() -> None:
    async def scenario() -> None:
        hub = Hub()
        sub = hub.subscribe("t", last_event_id=2)
        for seq in (1, 2, 3, 3, 4):
            hub.publish("t", message(seq))
        assert [(await sub.next(WAIT)).id for _ in range(2)] == [3, 4]  # type: ignore[union-attr]
        assert await sub.next(0.05) is None
        await hub.close()

    asyncio.run(scenario())


def test_a_slow_subscriber_is_dropped_and_the_others_go_on() -> None:
    async def scenario() -> None:
        hub = Hub(queue_size=3)
        slow, fast = hub.subscribe("t"), hub.subscribe("t")
        for seq in range(1, 6):
            hub.publish("t", message(seq))
            assert (await fast.next(WAIT)).id == seq  # type: ignore[union-attr]
        assert slow.dropped
        assert slow.ended
        assert await slow.next(WAIT) is None
        assert [e async for e in slow] == []
        assert hub.subscribers("t") == 1
        await hub.close()

    asyncio.run(scenario())


def test_iterating_ends_when_the_subscription_closes() -> None:
    async def scenario() -> None:
        hub = Hub()
        sub = hub.subscribe("t")
        hub.publish("t", message(1))

        async def read() -> list[int | None]:
            return [e.id async for e in sub]

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.01)
        sub.close()
        assert await asyncio.wait_for(reader, WAIT) == [1]
        await hub.close()

    asyncio.run(scenario())


def test_two_hubs_joined_by_redis_hear_each_others_events(redis_url: str) -> None:  # noqa: F811
    async def scenario() -> None:
        here, there = Hub(redis_url), Hub(redis_url)
        topic = f"w{here.origin}:conversation:a"
        mine, theirs = here.subscribe(topic), there.subscribe(topic)
        for hub in (here, there):
            assert hub.listening is not None
            await asyncio.wait_for(hub.listening.wait(), WAIT)
        here.publish(topic, message(1))
        there.publish(topic, LiveEvent(kind="typing", data={"who": "contact"}))
        for sub in (mine, theirs):
            got = [await sub.next(WAIT), await sub.next(WAIT)]
            assert sorted((e.kind, e.id or 0) for e in got if e) == [
                ("message.created", 1),
                ("typing", 0),
            ]
            assert await sub.next(0.2) is None  # each event once, not echoed back
        await here.close()
        await there.close()

    asyncio.run(scenario())


def test_a_started_hub_hears_other_processes_from_its_first_subscriber(
    redis_url: str,  # noqa: F811
) -> None:
    async def scenario() -> None:
        here, there = Hub(redis_url), Hub(redis_url)
        assert await here.start(WAIT)
        topic = f"w{here.origin}:conversation:first"
        # Subscribed, and at once another process publishes: nothing waits for Redis between.
        sub = here.subscribe(topic)
        there.publish(topic, message(1))
        await there.close()  # sent
        got = await sub.next(WAIT)
        assert got is not None
        assert got.id == 1
        await here.close()

    asyncio.run(scenario())


def test_an_app_hears_other_processes_before_its_first_stream(
    settings: Settings,
    redis_url: str,  # noqa: F811
) -> None:
    joined = Settings(database_url=settings.database_url, redis_url=redis_url)
    with TestClient(create_app(joined)):
        assert live.hub().connected
