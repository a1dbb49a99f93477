"""A hub of topics: ``publish(topic, event)`` and ``subscribe(topic, last_event_id)``.

Within one process every subscriber has a bounded queue; one that falls behind by more than
``QUEUE_SIZE`` events is dropped (its iteration ends) rather than allowed to grow memory, and
its client connects again from its Last-Event-ID, replaying what it missed from the database.
With a Redis URL the hub also publishes each event on a Redis channel and delivers to its own
subscribers what other processes publish there, so a stream on one process hears a message
written through another.

Events are published after the transaction that caused them commits (``announce``): a rolled
back request publishes nothing. An event's ``id`` grows per topic (a message's ``seq`` in its
conversation); ephemeral events (typing, presence) have none and are never replayed.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from leadline.kit import stopping

log = logging.getLogger(__name__)

# Events a subscriber may have waiting before it is dropped.
QUEUE_SIZE = 256
# Every process's channels start with this; a topic is the rest.
CHANNEL_PREFIX = "leadline:live:"
# An unreachable Redis must not hold a publisher; it is asked again after this long.
REDIS_TIMEOUT_SECONDS = 1.0
RECONNECT_SECONDS = 1.0
# How long a starting app waits for its subscription to Redis.
START_WAIT_SECONDS = 2.0


def conversation_topic(workspace_id: str, conversation_id: str) -> str:
    return f"{workspace_id}:conversation:{conversation_id}"


def workspace_topic(workspace_id: str) -> str:
    return f"{workspace_id}:workspace"


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One thing to tell the topic's subscribers: its ``kind`` (``message.created``,
    ``typing``, ``presence``), its data, and its ``id`` in the topic (None: ephemeral)."""

    kind: str
    data: dict[str, Any]
    id: int | None = None

    def encode(self, topic: str, origin: str) -> str:
        return json.dumps(
            {"origin": origin, "topic": topic, "kind": self.kind, "id": self.id, "data": self.data},
            separators=(",", ":"),
            default=str,
        )


@dataclass(eq=False)
class Subscription:
    """A subscriber's queue of events; iterate it (``async for``) or wait with ``next``.
    Ends when closed or dropped (``dropped`` then says it fell behind)."""

    hub: Hub
    topic: str
    after: int | None
    limit: int
    items: collections.deque[LiveEvent] = field(default_factory=collections.deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: bool = False
    closed: bool = False
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)

    def deliver(self, item: LiveEvent) -> None:
        if self.closed:
            return
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is not self.loop:
            # Published from another thread's loop (a job worker, a test's client).
            if not self.loop.is_closed():
                self.loop.call_soon_threadsafe(self.deliver, item)
            return
        if item.id is not None and self.after is not None and item.id <= self.after:
            return  # already had (replayed from the database, or sent before)
        if len(self.items) >= self.limit:
            self.dropped = True
            self.items.clear()
            self.close()
            return
        if item.id is not None:
            self.after = item.id
        self.items.append(item)
        self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.ready.set()
        self.hub._forget(self)

    async def next(self, within: float | None = None) -> LiveEvent | None:
        """The next event; None after ``within`` seconds without one, or once ended."""
        while not self.items:
            if self.closed:
                return None
            self.ready.clear()
            try:
                await asyncio.wait_for(self.ready.wait(), within)
            except TimeoutError:
                return None
        if self.closed and self.dropped:
            return None
        return self.items.popleft()

    @property
    def ended(self) -> bool:
        return self.closed and not self.items

    def __aiter__(self) -> AsyncIterator[LiveEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[LiveEvent]:
        try:
            while True:
                item = await self.next()
                if item is None:
                    return
                yield item
        finally:
            self.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *_: object) -> None:
        self.close()


class Hub:
    """Topics and their subscribers in this process, joined to other processes' through Redis
    pub/sub when ``redis_url`` is given."""

    def __init__(self, redis_url: str | None = None, *, queue_size: int = QUEUE_SIZE) -> None:
        self.redis_url = redis_url
        self.queue_size = queue_size
        self.origin = secrets.token_hex(8)
        self._topics: dict[str, set[Subscription]] = {}
        self._redis: redis.asyncio.Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self.listening = asyncio.Event() if redis_url else None

    # ------------------------------------------------------------------------ subscribers

    def subscribe(self, topic: str, last_event_id: int | None = None) -> Subscription:
        """Follow ``topic`` from now on; events with an id at or before ``last_event_id`` are
        skipped (the caller replays those from the database)."""
        self._start_listening()
        sub = Subscription(self, topic, last_event_id, self.queue_size)
        self._topics.setdefault(topic, set()).add(sub)
        return sub

    @property
    def connected(self) -> bool:
        """Whether every process's events reach this one: always without Redis; with it, while
        the subscription to Redis is up."""
        if self.redis_url is None:
            return True
        return (
            self.listening is not None
            and self.listening.is_set()
            and self._listener is not None
            and not self._listener.done()
        )

    def subscribers(self, topic: str) -> int:
        return len(self._topics.get(topic, ()))

    def _forget(self, sub: Subscription) -> None:
        found = self._topics.get(sub.topic)
        if found is not None:
            found.discard(sub)
            if not found:
                del self._topics[sub.topic]

    def _deliver(self, topic: str, item: LiveEvent) -> None:
        for sub in list(self._topics.get(topic, ())):
            sub.deliver(item)

    # ------------------------------------------------------------------------- publishing

    def publish(self, topic: str, item: LiveEvent) -> None:
        """Tell this process's subscribers now, and other processes' through Redis."""
        self._deliver(topic, item)
        if self.redis_url is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.warning("live: no event loop to publish %s on %s", item.kind, topic)
            return
        task = loop.create_task(self._send(topic, item))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, topic: str, item: LiveEvent) -> None:
        try:
            await self._client().publish(CHANNEL_PREFIX + topic, item.encode(topic, self.origin))
        except (redis.RedisError, OSError) as exc:
            log.warning("live: could not publish on %s: %s", topic, exc)

    def _client(self) -> redis.asyncio.Redis:
        if self._redis is None:
            assert self.redis_url is not None
            self._redis = redis.asyncio.Redis.from_url(
                self.redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
        return self._redis

    # ---------------------------------------------------------------- other processes

    async def start(self, within: float = START_WAIT_SECONDS) -> bool:
        """Hear other processes from now on, not from the first subscriber: the first stream
        of a process would otherwise tell its client it follows the topic before Redis does,
        and miss what another process publishes meanwhile. Waits up to ``within`` seconds for
        the subscription; whether it is up (without Redis, always)."""
        self._start_listening()
        if self.listening is None:
            return True
        try:
            await asyncio.wait_for(self.listening.wait(), within)
        except TimeoutError:
            log.warning("live: Redis not subscribed yet; streams hear this process only")
            return False
        return True

    def _start_listening(self) -> None:
        if self.redis_url is None or (self._listener is not None and not self._listener.done()):
            return
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        assert self.redis_url is not None
        while True:
            client = redis.asyncio.Redis.from_url(
                self.redis_url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
            )
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.psubscribe(CHANNEL_PREFIX + "*")
                    assert self.listening is not None
                    self.listening.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "pmessage":
                            self._heard(message.get("data"))
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                if self.listening is not None:
                    self.listening.clear()
                log.warning("live: Redis unreachable, only this process's events: %s", exc)
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                await client.aclose()

    def _heard(self, raw: object) -> None:
        try:
            message = json.loads(raw)  # type: ignore[arg-type]
            if message["origin"] == self.origin:
                return  # delivered here when published
            found_id = message.get("id")
            item = LiveEvent(
                kind=str(message["kind"]),
                data=dict(message["data"]),
                id=int(found_id) if found_id is not None else None,
            )
            topic = str(message["topic"])
        except (ValueError, TypeError, KeyError):
            log.warning("live: a message that is not ours")
            return
        self._deliver(topic, item)

    async def close(self) -> None:
        for subs in list(self._topics.values()):
            for sub in list(subs):
                sub.close()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._listener is not None:
            await stopping.cancel(self._listener)
            self._listener = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


_hub: Hub | None = None


def configure(redis_url: str | None) -> Hub:
    """The process's hub: within the process, or joined through Redis."""
    global _hub
    _hub = Hub(redis_url)
    return _hub


def hub() -> Hub:
    global _hub
    if _hub is None:
        _hub = Hub()
    return _hub


# ------------------------------------------------------------------ after the commit

_PENDING = "leadline.live.pending"
_LISTENING = "leadline.live.listening"


def announce(session: AsyncSession, topic: str, item: LiveEvent) -> None:
    """Publish ``item`` on ``topic`` once ``session``'s transaction commits (never if it
    rolls back)."""
    sync = session.sync_session
    if _LISTENING not in sync.info:
        sync.info[_LISTENING] = True
        sa_event.listen(sync, "after_commit", _committed)
        sa_event.listen(sync, "after_soft_rollback", _rolled_back)
    sync.info.setdefault(_PENDING, []).append((topic, item))


def _committed(sync: Session) -> None:
    for topic, item in sync.info.pop(_PENDING, None) or ():
        hub().publish(topic, item)


def _rolled_back(sync: Session, _previous: object) -> None:
    sync.info.pop(_PENDING, None)
