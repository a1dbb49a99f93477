"""Telling the caches of every process that what they hold has changed.

A cache in memory (the principals of API keys, sites by key) registers with its process's
``ChangeBus`` and names the topics it holds (``principals``, ``sites``). A service that
changes what a topic covers calls ``announce(session, topic)``; once that session's
transaction commits, every cache of this process forgets the topic at once and, when Redis is
configured, the message goes to every other process through Redis pub/sub. A process whose
subscription is down cannot hear other processes, so its caches keep their short expiry then
(``ChangeBus.listening``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
import weakref
from collections.abc import Callable, Iterable

import redis
import redis.asyncio
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "leadline:changes"
# The topics: API keys' principals (keys and their workspaces), and sites with their forms.
PRINCIPALS = "principals"
SITES = "sites"
# This process, so that a bus can ignore what it published itself (it heard it already).
ORIGIN = uuid.uuid4().hex
_PENDING = "leadline.changes"
_LISTENING = "leadline.changes.listening"
_RETRY_AFTER = 1.0

Listener = Callable[[str], None]


class ChangeBus:
    """The changes heard by this process's caches: ``listen(topic, forget)`` registers a cache,
    ``changed(topics)`` tells them; ``run()`` (a task for the process's life) hears other
    processes through Redis when ``redis_url`` is set."""

    def __init__(self, redis_url: str | None = None) -> None:
        self.redis_url = redis_url or None
        self._listeners: dict[str, list[Listener]] = {}
        # True while the Redis subscription is up: until then, and whenever it drops, other
        # processes' changes are not heard.
        self.listening = False
        _BUSES.add(self)

    def listen(self, topic: str, forget: Listener) -> None:
        self._listeners.setdefault(topic, []).append(forget)

    def changed(self, topics: Iterable[str]) -> None:
        for topic in topics:
            for forget in self._listeners.get(topic, ()):
                forget(topic)

    def forget_everything(self) -> None:
        self.changed(list(self._listeners))

    async def run(self) -> None:
        """Hear other processes until cancelled; reconnect after a lost connection. Every
        (re)subscription makes the caches forget everything: what changed while the
        subscription was down was not heard."""
        if self.redis_url is None:
            return
        while True:
            client = redis.asyncio.from_url(self.redis_url, socket_connect_timeout=2)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.listening = True
                    self.forget_everything()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._heard(message.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection: wait, then try again
                if self.listening:
                    log.warning("changes: the Redis subscription was lost: %s", exc)
                self.listening = False
                await asyncio.sleep(_RETRY_AFTER)
            finally:
                self.listening = False
                with contextlib.suppress(Exception):
                    await client.aclose()

    def _heard(self, data: object) -> None:
        try:
            raw = data.decode() if isinstance(data, bytes) else str(data)
            message = json.loads(raw)
            if message.get("origin") == ORIGIN:
                return
            topics = [str(topic) for topic in message.get("topics", [])]
        except (ValueError, AttributeError):
            log.warning("changes: a message that is not ours on %s", CHANNEL)
            return
        self.changed(topics)


_BUSES: weakref.WeakSet[ChangeBus] = weakref.WeakSet()
_publisher: redis.Redis | None = None


def configure(redis_url: str | None) -> None:
    """Where this process publishes its changes (Redis), or nowhere but itself."""
    global _publisher
    _publisher = redis.Redis.from_url(redis_url, socket_timeout=1) if redis_url else None


def publish(topics: Iterable[str]) -> None:
    """Tell this process's caches now, and other processes through Redis (if configured)."""
    topics = sorted(set(topics))
    for bus in list(_BUSES):
        bus.changed(topics)
    if _publisher is not None:
        try:
            _publisher.publish(CHANNEL, json.dumps({"origin": ORIGIN, "topics": topics}))
        except redis.RedisError as exc:
            # Other processes' caches then expire on their own, within their short expiry.
            log.warning("changes: could not publish %s: %s", topics, exc)


def announce(session: AsyncSession, topic: str) -> None:
    """``topic`` changes when ``session``'s transaction commits (not if it rolls back)."""
    sync = session.sync_session
    if _LISTENING not in sync.info:
        # Left in place for the session's life (sessions are short): a listener removed while
        # its event is dispatched would break the dispatch.
        sync.info[_LISTENING] = True
        event.listen(sync, "after_commit", _committed)
        event.listen(sync, "after_soft_rollback", _rolled_back)
    sync.info.setdefault(_PENDING, set()).add(topic)


def _committed(sync: Session) -> None:
    pending = sync.info.pop(_PENDING, None)
    if pending:
        publish(pending)


def _rolled_back(sync: Session, _previous: object) -> None:
    sync.info.pop(_PENDING, None)
