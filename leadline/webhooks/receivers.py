"""The connections one worker keeps to webhook receivers.

A delivery job sends many deliveries at once, and the next batch to the same receiver follows
soon after: opening a connection (and a TLS session) per delivery would cost more than the
delivery itself. So a worker keeps one pinned client per checked target (the host, its port and
the addresses the check found) for as long as the target stays the same, and caps the requests
it has in flight to that target, so that a batch neither floods a receiver with connections nor
lets requests wait for a connection inside their own timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from leadline.webhooks.pinned import pinned_client
from leadline.webhooks.safety import Target

# Targets a worker keeps clients for; past this, the longest unused idle ones are closed.
KEEP_TARGETS = 256


@dataclass(slots=True)
class Receiver:
    """A target's client, and its request slots: take one (``async with receiver.slots``)
    around each request, so that its timeout starts once it has a connection to go over."""

    client: httpx.AsyncClient
    slots: asyncio.Semaphore
    in_use: int = 0
    last_used: float = field(default_factory=time.monotonic)


class Receivers:
    """Pinned clients by target, each with ``connections`` request slots."""

    def __init__(self, connections: int) -> None:
        self.connections = connections
        self._kept: dict[tuple[str, int, tuple[str, ...]], Receiver] = {}

    @asynccontextmanager
    async def hold(self, target: Target) -> AsyncIterator[Receiver]:
        """The receiver at ``target``, kept open at least while the caller holds it."""
        key = (target.host, target.port, target.addresses)
        receiver = self._kept.get(key)
        if receiver is None:
            await self._make_room()
            receiver = Receiver(
                pinned_client(target, connections=self.connections),
                asyncio.Semaphore(self.connections),
            )
            self._kept[key] = receiver
        receiver.in_use += 1
        try:
            yield receiver
        finally:
            receiver.in_use -= 1
            receiver.last_used = time.monotonic()

    async def _make_room(self) -> None:
        if len(self._kept) < KEEP_TARGETS:
            return
        idle = sorted(
            (receiver.last_used, key)
            for key, receiver in self._kept.items()
            if receiver.in_use == 0
        )
        for _, key in idle[: max(1, len(idle) // 4)]:
            await self._kept.pop(key).client.aclose()

    async def aclose(self) -> None:
        kept, self._kept = self._kept, {}
        for receiver in kept.values():
            await receiver.client.aclose()
