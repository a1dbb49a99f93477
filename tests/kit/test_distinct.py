"""HyperLogLog sketches of ids: merged across overlapping days, the estimate of the union
stays within the documented bound; small sets are counted exactly."""

from __future__ import annotations

import random

from leadline.kit.distinct import RELATIVE_ERROR, merged, sketch_of


def _ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n}" for n in range(count)]


def test_a_few_hundred_ids_are_counted_exactly() -> None:
    ids = _ids("v", 300)
    assert merged([sketch_of(ids)]) == 300
    assert merged([sketch_of(ids[:200]), sketch_of(ids[100:])]) == 300
    assert merged([]) == 0
    assert merged([sketch_of([])], ids=["a", "b", "a"]) == 2


def test_thirty_overlapping_days_merge_within_three_standard_errors() -> None:
    """30 days of 4,000 visitors each out of a population of 60,000 (regulars come back):
    the merged estimate is within 3 relative standard errors of the exact union, for several
    draws."""
    assert 0.015 < RELATIVE_ERROR < 0.017
    for seed in range(5):
        chance = random.Random(seed)
        population = _ids(f"p{seed}", 60_000)
        days = [chance.sample(population, 4_000) for _ in range(30)]
        exact = len({visitor for day in days for visitor in day})
        estimate = merged(sketch_of(day) for day in days)
        assert abs(estimate - exact) <= 3 * RELATIVE_ERROR * exact, (seed, estimate, exact)


def test_a_million_ids_estimate_within_the_bound() -> None:
    ids = _ids("m", 1_000_000)
    sketches = [sketch_of(ids[start : start + 100_000]) for start in range(0, len(ids), 100_000)]
    estimate = merged(sketches, ids=ids[:1_000])
    assert abs(estimate - 1_000_000) <= 3 * RELATIVE_ERROR * 1_000_000
