"""What a worker can run: tasks by kind, periodic schedules, and how a task asks for a retry."""

from __future__ import annotations

import importlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import httpx

    from leadline.config import Settings
    from leadline.db import Database

# Modules whose import registers tasks; each feature with jobs adds its ``tasks`` module here.
TASK_MODULES: tuple[str, ...] = (
    "leadline.analytics.anomalies_tasks",
    "leadline.assistant.tasks",
    "leadline.conversions.tasks",
    "leadline.jobs.tasks",
    "leadline.knowledge.tasks",
    "leadline.forms.tasks",
    "leadline.idempotency.tasks",
    "leadline.inbox.tasks",
    "leadline.leads.tasks",
    "leadline.privacy.tasks",
    "leadline.privacy.retention_tasks",
    "leadline.purge.tasks",
    "leadline.tracking.tasks",
    "leadline.webhooks.tasks",
)


class RetryLater(Exception):
    """Raised by a task to be run again after ``delay`` seconds (counts as an attempt)."""

    def __init__(self, delay: float, reason: str = "") -> None:
        super().__init__(reason or f"retry in {delay:g}s")
        self.delay = max(0.0, delay)


class GiveUp(Exception):
    """Raised by a task whose failure no retry can fix: the job dies at once."""


T = TypeVar("T")


class WorkerResources:
    """What tasks keep for as long as their worker runs (connection pools, caches), by name;
    the worker closes each that has an ``aclose`` when it stops. Made and used in the worker's
    event loop only."""

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}

    def get(self, name: str, make: Callable[[], T]) -> T:
        """The resource called ``name``, made by ``make`` the first time it is asked for."""
        if name not in self._items:
            self._items[name] = make()
        found: T = self._items[name]
        return found

    async def aclose(self) -> None:
        items, self._items = self._items, {}
        for item in items.values():
            close = getattr(item, "aclose", None)
            if close is not None:
                await close()


@dataclass(frozen=True)
class JobContext:
    job_id: str
    kind: str
    workspace_id: str | None
    attempt: int
    max_attempts: int
    worker: str
    db: Database
    settings: Settings
    # One HTTP client per worker, so outgoing calls share connections and TLS set-up.
    http: httpx.AsyncClient
    resources: WorkerResources = field(default_factory=WorkerResources)


TaskFunction = Callable[[JobContext, dict[str, Any]], Awaitable[None]]


def exponential_backoff(attempt: int) -> float:
    """Seconds before retry number ``attempt``: 5 s, 10 s, 20 s ... capped at an hour, each
    spread by +/-20% so jobs that failed together do not retry together."""
    base: float = min(3600.0, 5.0 * 2.0 ** max(0, attempt - 1))
    return base * random.uniform(0.8, 1.2)


@dataclass(frozen=True)
class Task:
    kind: str
    run: TaskFunction
    max_attempts: int = 10
    backoff: Callable[[int], float] = exponential_backoff
    # Seconds a run may take before it is cancelled and counted as failed.
    timeout: float | None = None


@dataclass(frozen=True)
class Periodic:
    """A job enqueued on a schedule: every ``every_seconds``, or on a five-field ``cron``
    expression evaluated in UTC."""

    name: str
    kind: str
    every_seconds: int | None = None
    cron: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


_TASKS: dict[str, Task] = {}
_PERIODIC: dict[str, Periodic] = {}


def task(
    kind: str,
    *,
    max_attempts: int = 10,
    backoff: Callable[[int], float] = exponential_backoff,
    timeout: float | None = None,
) -> Callable[[TaskFunction], TaskFunction]:
    """Register the decorated coroutine as the task that runs jobs of ``kind``."""

    def register(function: TaskFunction) -> TaskFunction:
        if kind in _TASKS and _TASKS[kind].run is not function:
            raise ValueError(f"two tasks claim the job kind {kind!r}")
        _TASKS[kind] = Task(kind, function, max_attempts, backoff, timeout)
        return function

    return register


def periodic(schedule: Periodic) -> Periodic:
    if (schedule.every_seconds is None) == (schedule.cron is None):
        raise ValueError(f"schedule {schedule.name!r} needs exactly one of every_seconds, cron")
    _PERIODIC[schedule.name] = schedule
    return schedule


def get_task(kind: str) -> Task | None:
    return _TASKS.get(kind)


def max_attempts_of(kind: str) -> int:
    known = _TASKS.get(kind)
    return known.max_attempts if known else 10


def schedules() -> list[Periodic]:
    return list(_PERIODIC.values())


def load_tasks(extra: str = "") -> None:
    """Import every module that registers tasks, plus ``extra`` (comma-separated)."""
    names = [*TASK_MODULES, *(name.strip() for name in extra.split(",") if name.strip())]
    for name in names:
        importlib.import_module(name)
