"""Generated hourly history: weekly and daily seasonality with counting noise, seeded."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from leadline.analytics.anomalies import SiteSeries

HOUR = timedelta(hours=1)
# A Monday: generated weeks start here.
START = datetime(2026, 9, 7, tzinfo=UTC)


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 40:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def shape(moment: datetime) -> float:
    """Traffic by time of day and week: low at night, high in the afternoon, weekends at 60%."""
    daily = 0.25 + 0.75 * max(0.0, math.sin(math.pi * (moment.hour - 6) / 16)) ** 1.5
    weekly = 0.6 if moment.weekday() >= 5 else 1.0
    return daily * weekly


@dataclass
class History:
    """Hourly series of one site from START for ``weeks`` weeks."""

    weeks: int
    seed: int = 7
    start: datetime = START
    visits_peak: float = 120.0
    events_per_visit: float = 6.0
    submission_rate: float = 0.05
    vpn_share: float = 0.08
    # Refused requests per hour: a few, now and then.
    errors_rate: float = 0.5
    visits: dict[datetime, int] = field(default_factory=dict)
    events: dict[datetime, int] = field(default_factory=dict)
    submissions: dict[datetime, int] = field(default_factory=dict)
    datacenter: dict[datetime, int] = field(default_factory=dict)
    errors: dict[datetime, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        for i in range(self.weeks * 7 * 24):
            hour = self.start + HOUR * i
            visits = poisson(rng, self.visits_peak * shape(hour))
            submissions = poisson(rng, visits * self.submission_rate)
            self.visits[hour] = visits
            self.events[hour] = poisson(rng, visits * self.events_per_visit)
            self.submissions[hour] = submissions
            self.datacenter[hour] = sum(rng.random() < self.vpn_share for _ in range(submissions))
            self.errors[hour] = poisson(rng, self.errors_rate * (1 + visits / 100))

    @property
    def end(self) -> datetime:
        return self.start + timedelta(weeks=self.weeks)

    def series(self, label: str = "example.com") -> SiteSeries:
        return SiteSeries(
            label=label,
            since=self.start,
            visits=self.visits,
            events=self.events,
            submissions=self.submissions,
            datacenter_submissions=self.datacenter,
            ingest_errors=self.errors,
        )
