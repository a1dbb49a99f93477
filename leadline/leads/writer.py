"""The lead writer: one per process, for the routes that create leads one request at a time.

A request checks its lead (``service.prepare``: what can be refused is refused before any
transaction), hands it over and waits. The writer takes everything queued while its previous
transaction ran and writes it in one transaction (group commit): the leads of one workspace
and caller with one statement of each kind, the audit chain and the lead facets moved once per
group. It answers each request only after the commit, so a lead answered 2xx is stored. When
a group fails, each of its leads is written again on its own, so that one lead's error (a
limit, a conflict) is that request's answer and not its neighbours'. When more leads wait than
``capacity``, a request is refused at once with 503 and ``Retry-After``: nothing waits without
bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from leadline.audit.service import Actor
from leadline.auth.service import Principal
from leadline.db import Database
from leadline.errors import ServiceUnavailable
from leadline.leads.schemas import LeadSource
from leadline.leads.service import CreatedLead, NewLead, create_leads, prepare

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Order:
    """A request's lead waiting for the writer, and the future its answer goes to."""

    principal: Principal
    item: NewLead
    source: LeadSource
    actor: Actor | None
    answer: asyncio.Future[CreatedLead]

    @property
    def part(self) -> tuple[str, str, LeadSource, Actor | None]:
        """Leads that can share one ``create_leads``: same workspace, caller, source, actor."""
        return (self.principal.workspace_id, self.principal.key_id, self.source, self.actor)


class LeadWriter:
    def __init__(
        self, database: Database, *, capacity: int = 5_000, group_limit: int = 500
    ) -> None:
        self.database = database
        self.capacity = capacity
        self.group_limit = group_limit
        self._queue: deque[Order] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Committed groups, the leads they held, and groups written again lead by lead.
        self.groups = 0
        self.leads = 0
        self.split_groups = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="lead writer")

    async def stop(self) -> None:
        """Write everything queued, then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def create(
        self,
        principal: Principal,
        item: NewLead,
        *,
        source: LeadSource = LeadSource.API,
        actor: Actor | None = None,
    ) -> CreatedLead:
        """The lead ``item`` describes, created and committed."""
        item = prepare(item)
        if self._stopping or self._task is None:
            raise ServiceUnavailable("the server is shutting down", retry_after=1)
        if len(self._queue) >= self.capacity:
            raise ServiceUnavailable(
                f"{len(self._queue)} leads are waiting to be stored; retry shortly",
                retry_after=1,
            )
        answer: asyncio.Future[CreatedLead] = asyncio.get_running_loop().create_future()
        self._queue.append(Order(principal, item, source, actor, answer))
        self._wake.set()
        # A request that goes away still gets its lead stored: the order stays queued.
        return await asyncio.shield(answer)

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            group = [self._queue.popleft() for _ in range(min(self.group_limit, len(self._queue)))]
            try:
                await self._write(group)
            except BaseException as exc:  # the writer must go on, whatever one group did
                for order in group:
                    _fail(order, exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise

    async def _write(self, group: list[Order]) -> None:
        try:
            async with self.database.transaction() as session:
                parts: dict[tuple[str, str, LeadSource, Actor | None], list[Order]] = {}
                for order in group:
                    parts.setdefault(order.part, []).append(order)
                results: list[tuple[Order, CreatedLead]] = []
                for orders in parts.values():
                    first = orders[0]
                    created = await create_leads(
                        session,
                        first.principal,
                        [order.item for order in orders],
                        source=first.source,
                        actor=first.actor,
                    )
                    results.extend(zip(orders, created, strict=True))
        except Exception as exc:
            if len(group) == 1:
                _fail(group[0], exc)
                return
            # Which lead it was is not known: each is written on its own, and answered so.
            self.split_groups += 1
            log.info("lead writer: a group of %d failed (%s); writing each alone", len(group), exc)
            for order in group:
                await self._write([order])
            return
        self.groups += 1
        self.leads += len(results)
        for order, made in results:
            if not order.answer.done():
                order.answer.set_result(made)


def _fail(order: Order, exc: BaseException) -> None:
    if order.answer.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        order.answer.cancel()
    else:
        order.answer.set_exception(exc)
