"""The connections one worker keeps to webhook receivers.

A delivery job sends many deliveries at once, and the next batch to the same receiver follows
soon after: opening a connection (and a TLS session) per delivery would cost more than the
delivery itself. So a worker keeps one client per checked target (the host, its port and the
addresses the check found) for as long as the target stays the same, each with a cap on the
requests in flight to it, so that a batch neither floods a receiver with connections nor lets
requests wait for a connection inside their own timeout.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from leadline.webhooks.http1 import Client
from leadline.webhooks.safety import Target

# Targets a worker keeps clients for; past this, the longest unused idle ones are closed.
KEEP_TARGETS = 256
# How often idle connections past their keep-alive are closed, and when an unused target's
# client goes, in seconds.
SWEEP_EVERY = 5.0
FORGET_AFTER = 60.0


@dataclass(slots=True)
class _Kept:
    client: Client
    in_use: int = 0
    last_used: float = field(default_factory=time.monotonic)


class Receivers:
    """Clients by target, each with ``connections`` request slots."""

    def __init__(self, connections: int) -> None:
        self.connections = connections
        self._kept: dict[tuple[str, str, int, tuple[str, ...]], _Kept] = {}
        self._swept = time.monotonic()

    @asynccontextmanager
    async def hold(self, target: Target) -> AsyncIterator[Client]:
        """The client for ``target``, kept open at least while the caller holds it."""
        self._sweep()
        # The addresses as a set: a name answering them in another order is the same target.
        addresses = tuple(sorted(target.addresses))
        key = (target.url.split(":", 1)[0].lower(), target.host, target.port, addresses)
        kept = self._kept.get(key)
        if kept is None:
            self._make_room()
            kept = self._kept[key] = _Kept(Client(target, self.connections))
        kept.in_use += 1
        try:
            yield kept.client
        finally:
            kept.in_use -= 1
            kept.last_used = time.monotonic()

    def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._swept < SWEEP_EVERY:
            return
        self._swept = now
        for key, kept in list(self._kept.items()):
            kept.client.close_expired(now)
            if not kept.in_use and now - kept.last_used > FORGET_AFTER:
                del self._kept[key]
                kept.client.close()

    def _make_room(self) -> None:
        if len(self._kept) < KEEP_TARGETS:
            return
        idle = sorted((kept.last_used, key) for key, kept in self._kept.items() if not kept.in_use)
        for _, key in idle[: max(1, len(idle) // 4)]:
            self._kept.pop(key).client.close()

    async def aclose(self) -> None:
        kept, self._kept = self._kept, {}
        for each in kept.values():
            each.client.close()
