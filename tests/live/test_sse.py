"""The event stream's text: replay, then the hub; a stream whose subscriber was dropped for
falling behind reads what it missed from the database and loses nothing."""

from __future__ import annotations

import asyncio

from leadline.live import Hub, LiveEvent, sse

WAIT = 5.0


def message(seq: int) -> LiveEvent:
    return LiveEvent(kind="message.created", data={"seq": seq}, id=seq)


def test_a_dropped_stream_catches_up_from_the_database_and_sends_each_message_once() -> None:
    async def scenario() -> None:
        hub = Hub(queue_size=2)
        stored = [message(1), message(2)]

        async def replay(after: int | None) -> list[LiveEvent]:
            return [m for m in stored if after is None or (m.id or 0) > after]

        chunks = sse.stream(hub, "t", 1, replay, heartbeat=WAIT, lifetime=WAIT)
        assert (await anext(chunks)).startswith("retry:")
        assert (await anext(chunks)).startswith("id: 2\n")  # replayed
        for seq in range(3, 8):  # the stream reads none of these: it falls behind
            stored.append(message(seq))
            hub.publish("t", message(seq))
        sent = [await asyncio.wait_for(anext(chunks), WAIT) for _ in range(5)]
        assert [chunk.split("\n")[0] for chunk in sent] == [f"id: {n}" for n in range(3, 8)]
        # Published while the stream was catching up: read from the database all the same.
        stored.append(message(8))
        hub.publish("t", message(8))
        eighth = await asyncio.wait_for(anext(chunks), WAIT)
        assert eighth.startswith("id: 8\n")
        hub.publish("t", LiveEvent(kind="typing", data={"from": "contact"}))
        typing = await asyncio.wait_for(anext(chunks), WAIT)
        assert typing == 'event: typing\ndata: {"from":"contact"}\n\n'
        await chunks.aclose()
        assert hub.subscribers("t") == 0  # closing the stream ends its subscription
        await hub.close()

    asyncio.run(scenario())


def test_the_last_event_id_header_comes_before_after() -> None:
    assert sse.last_event_id({"last-event-id": "7"}, {"after": "3"}) == 7
    assert sse.last_event_id({}, {"after": "3"}) == 3
    assert sse.last_event_id({"last-event-id": "x"}, {}) is None
