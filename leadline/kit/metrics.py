"""The process's Prometheus metrics: every family Leadline exports, defined once.

Each process (``leadline serve``, ``leadline worker``) keeps its own counts in memory and is
scraped on its own (docs/operations.md says why not prometheus-client's multiprocess mode).
Families whose value lives in the database (the job queue) are read when scraped, by
:mod:`leadline.surfaces.metrics`.

Labels are bounded: a request is counted under its route's template (``/api/leads/{lead_id}``),
never its path, and under ``<unmatched>`` when no route took it, so ids and probes for random
paths add no series.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

UNMATCHED = "<unmatched>"
# Methods counted by name; anything else a client sends is counted as ``other``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Latency buckets from half a millisecond (a tracking request) to ten seconds (an export).
_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_GROUP = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 20000)

registry: CollectorRegistry = REGISTRY

HTTP_REQUESTS = Counter(
    "leadline_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
    registry=registry,
)
HTTP_DURATION = Histogram(
    "leadline_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template.",
    ["route"],
    buckets=_LATENCY,
    registry=registry,
)

WRITER_GROUP_REQUESTS = Histogram(
    "leadline_tracking_writer_group_requests",
    "Tracking requests committed together in one transaction of the tracking writer.",
    buckets=_GROUP,
    registry=registry,
)
WRITER_GROUP_EVENTS = Histogram(
    "leadline_tracking_writer_group_events",
    "Tracking events committed together in one transaction of the tracking writer.",
    buckets=_GROUP,
    registry=registry,
)
WRITER_COMMIT = Histogram(
    "leadline_tracking_writer_commit_seconds",
    "Time the tracking writer takes to apply and commit one group.",
    buckets=_LATENCY,
    registry=registry,
)
WRITER_FAILURES = Counter(
    "leadline_tracking_writer_failed_transactions",
    "Transactions of the tracking writer that failed (their requests were answered 503 "
    "or retried one by one).",
    registry=registry,
)
WRITER_WAITING = Gauge(
    "leadline_tracking_writer_waiting_events",
    "Tracking events queued for the writer right now.",
    registry=registry,
)

JOBS = Gauge(
    "leadline_jobs",
    "Jobs in the queue by state, read from the database when scraped: due (queued and due), "
    "scheduled (queued for later), running, dead.",
    ["state"],
    registry=registry,
)
JOBS_OLDEST_DUE = Gauge(
    "leadline_jobs_oldest_due_age_seconds",
    "How long the oldest due job has waited for a worker (0 when none is due), read from the "
    "database when scraped.",
    registry=registry,
)
JOBS_RUN = Counter(
    "leadline_jobs_run",
    "Jobs this process ran, by kind and outcome (succeeded, retried, dead).",
    ["kind", "outcome"],
    registry=registry,
)
JOBS_DURATION = Histogram(
    "leadline_job_duration_seconds",
    "Time one job ran in this process, by kind.",
    ["kind"],
    buckets=_LATENCY,
    registry=registry,
)

WEBHOOK_DELIVERIES = Counter(
    "leadline_webhook_deliveries",
    "Webhook delivery attempts this process recorded, by outcome: delivered, retrying (failed, "
    "tried again later), failed (given up).",
    ["outcome"],
    registry=registry,
)
WEBHOOK_LATENCY = Histogram(
    "leadline_webhook_delivery_duration_seconds",
    "Time a webhook receiver took to answer (or to fail).",
    buckets=_LATENCY,
    registry=registry,
)

CACHE_LOOKUPS = Counter(
    "leadline_cache_lookups",
    "Look-ups in the in-memory read caches, by cache and result (hit: answered from memory; "
    "miss: read from the database, or joined a read under way).",
    ["cache", "result"],
    registry=registry,
)


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


class RequestCounts:
    """The request families' labelled children, kept by their labels: a child looked up in a
    dict costs a fraction of ``labels()``, which takes a lock and builds a tuple each time."""

    __slots__ = ("_counts", "_durations")

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], Counter] = {}
        self._durations: dict[str, Histogram] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        key = (route, method, status)
        count = self._counts.get(key)
        if count is None:
            count = self._counts[key] = HTTP_REQUESTS.labels(route, method, str(status))
        count.inc()
        duration = self._durations.get(route)
        if duration is None:
            duration = self._durations[route] = HTTP_DURATION.labels(route)
        duration.observe(seconds)


# One per process: every app made in it counts into the same families.
requests = RequestCounts()


def cache_counters(cache: str) -> tuple[Counter, Counter]:
    """The hit and miss counters of the cache named ``cache``."""
    return CACHE_LOOKUPS.labels(cache, "hit"), CACHE_LOOKUPS.labels(cache, "miss")
