"""Anomaly detection on a site's hourly series: pure, no database.

Each metric is judged over a window of hours that ends with the last complete hour (one hour
for visits, events and refused requests; three for lead submissions, which are few). Its
baseline is the same window at the same time of week in each of the last 8 weeks the site
existed (at least 4 are needed).

Counts are judged by their square roots, whose counting noise is the same (one half) at any
volume. The baseline is the median of the weeks' totals, and the spread of their roots:
1.4826 times their median absolute deviation (the standard deviation, were they normal, that
one odd week cannot move), floored at 1.5 times the noise of counting and at a twentieth of
the median's root (about a tenth of the count), so that a history that never moved does not
make every change an anomaly. The score ``(sqrt(observed) - sqrt(median)) / spread`` grades a
change: 4 or more (either way) is ``info``, 6 ``warning``, 10 ``critical``. A change must also
be large in plain terms (``Rule.min_change``) and the median must reach a minimum volume
(``Rule.min_volume``), so that a quiet site is not noisy. The expected range reported is the
range whose score stays below 4.

The share of submissions from datacenter, cloud or VPN addresses is scored by the exact
binomial tail of that many such submissions at the usual share plus five points, put on the
same scale (see :func:`share_score`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import NormalDist
from typing import Literal

from leadline.kit.hours import HOUR

WEEK = timedelta(days=7)
# How many past weeks make a baseline, and how few are enough.
BASELINE_WEEKS = 8
MIN_WEEKS = 4
# 1/Phi^-1(3/4): MAD times this estimates the standard deviation of normal data.
MAD_SCALE = 1.4826
# Counts are noisier than counting alone (Poisson) makes them: the floor of the spread of
# their square roots is this many times counting's (one half).
NOISE = 1.5
# A change of a twentieth of a count's square root (a tenth of the count) is never more than
# one spread.
RELATIVE_FLOOR = 0.05

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
# Robust z from which each severity applies.
THRESHOLDS: dict[Severity, float] = {"info": 4.0, "warning": 6.0, "critical": 10.0}

# The kinds of anomaly, and what each means.
KINDS: dict[str, str] = {
    "submission_drop": "lead submissions fell well below their usual level for the time of week",
    "submissions_missing": "no lead submission at all while visits were normal: "
    "a form or the capture may be broken",
    "traffic_spike": "visits rose well above their usual level for the time of week",
    "traffic_drop": "visits fell well below their usual level for the time of week",
    "events_missing": "no tracked event at all for an hour that usually has many: "
    "the tracker may be broken or removed",
    "vpn_share": "the share of lead submissions sent from datacenter, cloud or VPN addresses "
    "rose well above usual",
    "ingest_errors": "many more tracking or form requests of the site were refused than usual: "
    "the tracker or a form may be sending something broken",
}

Direction = Literal["up", "down"]


@dataclass(frozen=True, slots=True)
class Rule:
    """How one metric is judged: the window (hours), which way is bad, the minimum baseline
    median (per window) below which it is not judged, and the smallest change that counts,
    relative to the median (counts) or absolute (shares)."""

    window: int
    direction: Direction
    min_volume: float
    min_change: float


VISITS_UP = Rule(window=1, direction="up", min_volume=20, min_change=0.5)
VISITS_DOWN = Rule(window=1, direction="down", min_volume=20, min_change=0.25)
EVENTS_GONE = Rule(window=1, direction="down", min_volume=50, min_change=1.0)
SUBMISSIONS_DOWN = Rule(window=3, direction="down", min_volume=10, min_change=0.25)
# The share is judged when the window has this many submissions (and so have the samples).
VPN_SHARE_UP = Rule(window=3, direction="up", min_volume=10, min_change=0.25)
SHARE_FLOOR = 0.05
# Refused requests usually number none, so the rule is on the count itself: at least
# ``min_volume`` in the hour, and at least twice the usual count plus ``min_volume``.
ERRORS_UP = Rule(window=1, direction="up", min_volume=20, min_change=1.0)
NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class Baseline:
    """The median of the samples (counts), the spread of their square roots, and the
    lowest and highest sample (what a sentence calls usual)."""

    median: float
    spread: float
    samples: int
    low: float = 0.0
    high: float = 0.0


@dataclass(frozen=True, slots=True)
class Finding:
    """One anomaly found: its kind and severity, the window judged (``start`` to ``end``,
    excluded), what was seen, the expected range, and a sentence for people."""

    kind: str
    severity: Severity
    start: datetime
    end: datetime
    observed: float
    expected_low: float
    expected_high: float
    score: float
    sentence: str


@dataclass(frozen=True, slots=True)
class SiteSeries:
    """A site's hourly counts, by the UTC hour each starts (hours absent counted 0), and the
    first hour the site existed (weeks before it are no baseline)."""

    label: str
    since: datetime
    visits: Mapping[datetime, int]
    events: Mapping[datetime, int]
    submissions: Mapping[datetime, int]
    # Submissions sent from datacenter, cloud or VPN addresses (a part of ``submissions``).
    datacenter_submissions: Mapping[datetime, int]
    # Tracking and capture requests of the site that were refused.
    ingest_errors: Mapping[datetime, int] = field(default_factory=dict)


def window_total(series: Mapping[datetime, int], end: datetime, hours: int) -> int:
    """The sum of the ``hours`` hours before ``end``."""
    return sum(series.get(end - HOUR * (i + 1), 0) for i in range(hours))


def past_ends(end: datetime, hours: int, since: datetime) -> list[datetime]:
    """The ends of the same window in each of the last BASELINE_WEEKS weeks whose whole
    window falls after ``since``."""
    ends = [end - WEEK * k for k in range(1, BASELINE_WEEKS + 1)]
    return [e for e in ends if e - HOUR * hours >= since]


# The longest window any metric is judged over.
LONGEST_WINDOW = max(
    rule.window for rule in (VISITS_UP, EVENTS_GONE, SUBMISSIONS_DOWN, VPN_SHARE_UP)
)


def spans_needed(end: datetime) -> list[tuple[datetime, datetime]]:
    """The ranges of time :func:`evaluate` reads for windows ending at ``end``: the longest
    window before ``end`` and at the same time of each of the BASELINE_WEEKS weeks before."""
    return [
        (end - WEEK * k - HOUR * LONGEST_WINDOW, end - WEEK * k) for k in range(BASELINE_WEEKS + 1)
    ]


def mad(values: Sequence[float], center: float) -> float:
    return float(statistics.median(abs(v - center) for v in values))


def count_baseline(samples: Sequence[float]) -> Baseline | None:
    """The baseline of counts, or None with fewer than MIN_WEEKS samples. Counts are judged
    by their square roots, whose noise is the same (one half) at any volume: a fall to zero
    from 16 is as sure as a rise from 10,000 to 10,800."""
    if len(samples) < MIN_WEEKS:
        return None
    median = float(statistics.median(samples))
    roots = [math.sqrt(v) for v in samples]
    floor = max(NOISE * 0.5, RELATIVE_FLOOR * math.sqrt(median))
    spread = max(MAD_SCALE * mad(roots, math.sqrt(median)), floor)
    return Baseline(median, spread, len(samples), min(samples), max(samples))


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in logarithms (a busy site's thousands of
    submissions overflow floats otherwise) until the terms stop counting."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k, n + 1):
        term = math.exp(
            math.lgamma(n + 1)
            - math.lgamma(i + 1)
            - math.lgamma(n - i + 1)
            + i * log_p
            + (n - i) * log_q
        )
        total += term
        if i > n * p and term < total * 1e-12:
            break
    return min(total, 1.0)


def share_score(part: int, whole: int, rate: float) -> float:
    """How unusual ``part`` of ``whole`` is when each is one with chance ``rate``, as the
    normal score of the same upper tail: exact for the small counts submissions come in,
    where a normal approximation would cry wolf."""
    tail = binomial_tail(part, whole, rate)
    if tail >= 0.5:
        return 0.0
    return NORMAL.inv_cdf(1 - max(tail, 1e-15))


def share_high(whole: int, rate: float) -> float:
    """The largest share of ``whole`` whose score stays below THRESHOLDS['info'] (the score
    grows with the part: a binary search)."""
    low, high = 0, whole  # the answer's part lies in low..high
    while low < high:
        middle = (low + high + 1) // 2
        if share_score(middle, whole, rate) < THRESHOLDS["info"]:
            low = middle
        else:
            high = middle - 1
    return low / whole


def severity_of(score: float) -> Severity | None:
    """The severity of a robust z score's size, or None below THRESHOLDS['info']."""
    found: Severity | None = None
    for severity in SEVERITIES:
        if abs(score) >= THRESHOLDS[severity]:
            found = severity
    return found


def expected_range(base: Baseline) -> tuple[float, float]:
    """The counts whose score stays below THRESHOLDS['info']."""
    band = THRESHOLDS["info"] * base.spread
    root = math.sqrt(base.median)
    return max(0.0, root - band) ** 2, (root + band) ** 2


def judge(rule: Rule, observed: float, base: Baseline) -> float | None:
    """The robust z score of ``observed`` if it is an anomaly by ``rule``; else None."""
    if base.median < rule.min_volume:
        return None
    change = observed - base.median
    if (rule.direction == "up" and change <= 0) or (rule.direction == "down" and change >= 0):
        return None
    size = abs(change) / base.median
    if size < rule.min_change:
        return None
    score = (math.sqrt(observed) - math.sqrt(base.median)) / base.spread
    return score if severity_of(score) else None


def _hours(start: datetime, end: datetime) -> str:
    return f"between {start:%H:%M} and {end:%H:%M} UTC on {start:%a %d %b}"


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def _finding(
    kind: str,
    score: float,
    base: Baseline,
    observed: float,
    end: datetime,
    window: int,
    sentence: str,
    *,
    severity: Severity | None = None,
) -> Finding:
    low, high = expected_range(base)
    low, high = float(math.floor(low)), float(math.ceil(high))
    return Finding(
        kind=kind,
        severity=severity or severity_of(score) or "info",
        start=end - HOUR * window,
        end=end,
        observed=round(observed, 4),
        expected_low=low,
        expected_high=high,
        score=round(score, 2),
        sentence=sentence,
    )


def _count_check(
    series: Mapping[datetime, int], rule: Rule, end: datetime, since: datetime
) -> tuple[int, Baseline] | None:
    samples = [window_total(series, e, rule.window) for e in past_ends(end, rule.window, since)]
    base = count_baseline(samples)
    if base is None:
        return None
    return window_total(series, end, rule.window), base


def _range(base: Baseline) -> str:
    """The counts of the same time in the past weeks, lowest to highest."""
    if base.low == base.high:
        return f"{base.low:.0f}"
    return f"{base.low:.0f}\u2013{base.high:.0f}"


def evaluate(site: SiteSeries, end: datetime) -> list[Finding]:
    """The anomalies of ``site`` in the windows ending at ``end`` (the start of the hour
    after the last complete one), most specific first: an hour without events is
    ``events_missing``, not also a traffic drop; submissions gone while visits are normal
    are ``submissions_missing``, not also a submission drop."""
    found: list[Finding] = []
    label = site.label
    visits_normal = False

    events = _count_check(site.events, EVENTS_GONE, end, site.since)
    events_gone = False
    if events is not None:
        observed, base = events
        low, _ = expected_range(base)
        score = judge(EVENTS_GONE, observed, base)
        if observed == 0 and score is not None and low > 0:
            events_gone = True
            found.append(
                _finding(
                    "events_missing",
                    score,
                    base,
                    observed,
                    end,
                    EVENTS_GONE.window,
                    f"No tracking events arrived from {label} {_hours(end - HOUR, end)}; "
                    f"that hour usually has {_range(base)}. Check that the tracking snippet "
                    "is still on the site.",
                    severity="critical",
                )
            )

    visits = _count_check(site.visits, VISITS_UP, end, site.since)
    if visits is not None:
        observed, base = visits
        low, high = expected_range(base)
        visits_normal = base.median >= VISITS_UP.min_volume and low <= observed <= high
        up = judge(VISITS_UP, observed, base)
        down = judge(VISITS_DOWN, observed, base)
        if up is not None:
            found.append(
                _finding(
                    "traffic_spike",
                    up,
                    base,
                    observed,
                    end,
                    1,
                    f"Visits to {label} jumped to {observed} {_hours(end - HOUR, end)}; "
                    f"usually {_range(base)} at that time of week.",
                )
            )
        elif down is not None and not events_gone:
            found.append(
                _finding(
                    "traffic_drop",
                    down,
                    base,
                    observed,
                    end,
                    1,
                    f"Visits to {label} fell to {observed} {_hours(end - HOUR, end)}; "
                    f"usually {_range(base)} at that time of week.",
                )
            )

    found.extend(_submission_findings(site, end, visits_normal))
    errors = _errors_finding(site, end)
    if errors is not None:
        found.append(errors)
    return found


def _errors_finding(site: SiteSeries, end: datetime) -> Finding | None:
    rule = ERRORS_UP
    observed = window_total(site.ingest_errors, end, rule.window)
    if observed < rule.min_volume:
        return None
    samples = [window_total(site.ingest_errors, e, 1) for e in past_ends(end, 1, site.since)]
    base = count_baseline(samples)
    if base is None or observed < 2 * base.median + rule.min_volume:
        return None
    score = (math.sqrt(observed) - math.sqrt(base.median)) / base.spread
    if severity_of(score) is None:
        return None
    return _finding(
        "ingest_errors",
        score,
        base,
        observed,
        end,
        rule.window,
        f"{observed} tracking and form requests from {site.label} were refused "
        f"{_hours(end - HOUR, end)}; usually {_range(base)}. The tracker or a form may be "
        "sending something broken.",
    )


def _submission_findings(site: SiteSeries, end: datetime, visits_normal: bool) -> list[Finding]:
    found: list[Finding] = []
    label = site.label
    rule = SUBMISSIONS_DOWN
    start = end - HOUR * rule.window
    checked = _count_check(site.submissions, rule, end, site.since)
    if checked is not None:
        observed, base = checked
        score = judge(rule, observed, base)
        if score is not None and observed == 0 and visits_normal:
            found.append(
                _finding(
                    "submissions_missing",
                    score,
                    base,
                    observed,
                    end,
                    rule.window,
                    f"No lead submissions from {label} {_hours(start, end)} although visits "
                    f"were normal; usually {_range(base)}. Check that the forms still send.",
                    severity="critical",
                )
            )
        elif score is not None:
            found.append(
                _finding(
                    "submission_drop",
                    score,
                    base,
                    observed,
                    end,
                    rule.window,
                    f"Lead submissions on {label} fell to {observed} {_hours(start, end)}; "
                    f"usually {_range(base)}.",
                )
            )
    share = _share_finding(site, end)
    if share is not None:
        found.append(share)
    return found


def _share_finding(site: SiteSeries, end: datetime) -> Finding | None:
    rule = VPN_SHARE_UP
    total = window_total(site.submissions, end, rule.window)
    if total < rule.min_volume:
        return None
    samples, parts, wholes = 0, 0, 0
    for past in past_ends(end, rule.window, site.since):
        n = window_total(site.submissions, past, rule.window)
        if n >= rule.min_volume:
            samples += 1
            parts += window_total(site.datacenter_submissions, past, rule.window)
            wholes += n
    if samples < MIN_WEEKS:
        return None
    usual = parts / wholes
    # Judged against a rate a little above the usual one, so that a share that was never
    # seen to move (always none, say) is not an anomaly at its first few.
    rate = min(0.95, max(usual, 0.01) + SHARE_FLOOR)
    part = window_total(site.datacenter_submissions, end, rule.window)
    observed = part / total
    score = share_score(part, total, rate)
    if observed - usual < rule.min_change or severity_of(score) is None:
        return None
    start = end - HOUR * rule.window
    high = share_high(total, rate)
    return Finding(
        kind="vpn_share",
        severity=severity_of(score) or "info",
        start=start,
        end=end,
        observed=round(observed, 4),
        expected_low=0.0,
        expected_high=round(high, 4),
        score=round(score, 2),
        sentence=f"{_percent(observed)} of the lead submissions on {site.label} "
        f"{_hours(start, end)} came from datacenter, cloud or VPN addresses; usually about "
        f"{_percent(usual)}. "
        "They may be bots or fraud.",
    )
