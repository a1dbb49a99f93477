"""The score classes the rollups count visits under: each lies in one ten-point bucket and one
label, so the engagement report's buckets and labels add up from them exactly."""

from __future__ import annotations

from leadline.tracking.counts import SCORE_CLASSES, score_class
from leadline.tracking.engagement import label_of


def test_each_class_lies_in_one_bucket_and_one_label() -> None:
    members: dict[int, list[int]] = {}
    for score in range(101):
        members.setdefault(score_class(score), []).append(score)
    assert sorted(members) == list(SCORE_CLASSES)
    for low, scores in members.items():
        assert low == scores[0]
        assert {min(score, 99) // 10 for score in scores} == {min(low, 99) // 10}
        assert {label_of(score) for score in scores} == {label_of(low)}


def test_scores_out_of_range_are_clamped() -> None:
    assert score_class(-3) == 0
    assert score_class(140) == 90
