"""The process's Prometheus metrics: every family Leadline exports, defined once.

Each process (``leadline serve``, ``leadline worker``) keeps its own counts in memory and is
scraped on its own (docs/operations.md says why not prometheus-client's multiprocess mode).
Families whose value lives in the database (the job queue) are read when scraped, by
:mod:`leadline.surfaces.metrics`.

The counts of every request and every cache look-up, the hot paths, are plain integers kept
by :class:`RequestCounts` and :class:`CacheCounts` and turned into families only when scraped:
prometheus-client's own counters take a lock for every increment, which cost a tracking request
about 2 us of its 15 (docs/performance.md). Both are touched only on the event loop's thread.

Labels are bounded: a request is counted under its route's template (``/api/leads/{lead_id}``),
never its path, and under ``<unmatched>`` when no route took it, so ids and probes for random
paths add no series.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

UNMATCHED = "<unmatched>"
# Methods counted by name; anything else a client sends is counted as ``other``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Latency buckets from half a millisecond (a tracking request) to ten seconds (an export).
_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_GROUP = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 20000)

registry: CollectorRegistry = REGISTRY

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


class _Latencies:
    """The requests of one (route, method, status): how many took each bucket of _LATENCY's
    time, and one more past the last (+Inf), not cumulative; their count is the buckets' sum."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(_LATENCY) + 1)
        self.total = 0.0


class RequestCounts(Collector):
    """``leadline_http_requests_total`` and ``leadline_http_request_duration_seconds``: one
    entry per (route, method, status), found with one dict look-up per request, made into
    both families (the histogram summed by route) when scraped."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str, int], _Latencies] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        if method not in METHODS:
            method = "other"
        key = (route, method, status)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Latencies()
        entry.buckets[bisect_left(_LATENCY, seconds)] += 1
        entry.total += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "leadline_http_requests",
            "HTTP requests answered, by route template, method and status.",
            labels=["route", "method", "status"],
        )
        by_route: dict[str, _Latencies] = {}
        for (route, method, status), entry in list(self._entries.items()):
            requests.add_metric([route, method, str(status)], sum(entry.buckets))
            summed = by_route.setdefault(route, _Latencies())
            summed.buckets = [a + b for a, b in zip(summed.buckets, entry.buckets, strict=True)]
            summed.total += entry.total
        yield requests
        durations = HistogramMetricFamily(
            "leadline_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template.",
            labels=["route"],
        )
        bounds = [*(str(bound) for bound in _LATENCY), "+Inf"]
        for route, summed in by_route.items():
            cumulative, running = [], 0
            for bound, count in zip(bounds, summed.buckets, strict=True):
                running += count
                cumulative.append((bound, running))
            durations.add_metric([route], cumulative, summed.total)
        yield durations


class CacheCounts(Collector):
    """``leadline_cache_lookups_total``: a ``[hits, misses]`` pair per cache name, shared by
    every cache of that name in the process."""

    def __init__(self) -> None:
        self._tallies: dict[str, list[int]] = {}

    def tally(self, cache: str) -> list[int]:
        """The cache's ``[hits, misses]``, to add to in place."""
        return self._tallies.setdefault(cache, [0, 0])

    def collect(self) -> Iterator[Metric]:
        lookups = CounterMetricFamily(
            "leadline_cache_lookups",
            "Look-ups in the in-memory read caches, by cache and result (hit: answered from "
            "memory; miss: read from the database, or joined a read under way).",
            labels=["cache", "result"],
        )
        for cache, (hits, misses) in list(self._tallies.items()):
            lookups.add_metric([cache, "hit"], hits)
            lookups.add_metric([cache, "miss"], misses)
        yield lookups


# One of each per process: every app made in it counts into the same families.
requests = RequestCounts()
caches = CacheCounts()
registry.register(requests)
registry.register(caches)
