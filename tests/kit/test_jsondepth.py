"""How deep JSON nests, and the refusal past the documented maximum."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadline.errors import ValidationFailed
from leadline.kit.jsondepth import MAX_JSON_DEPTH, check_json_depth, json_depth


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"1", 0),
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"s": "[[[[{{{{"}', 1),  # brackets inside a string open nothing
        (b'{"s": "a\\"[[[", "t": [1]}', 2),  # nor after an escaped quote
        (b'["\\\\", [[]]]', 3),  # an escaped backslash ends before the quote that closes
    ],
)
def test_depth_counts_objects_and_arrays_outside_strings(text: bytes, depth: int) -> None:
    assert json_depth(text) == depth


def test_the_limit_is_taken_and_one_more_refused() -> None:
    check_json_depth(nested(MAX_JSON_DEPTH))
    with pytest.raises(ValidationFailed, match=f"nests {MAX_JSON_DEPTH + 1} levels deep"):
        check_json_depth(nested(MAX_JSON_DEPTH + 1))


def test_many_shallow_brackets_are_not_depth() -> None:
    check_json_depth(b"[" + b",".join([b"[]"] * 1000) + b"]")


@given(st.recursive(st.integers() | st.text(), lambda inner: st.lists(inner, max_size=3)))
def test_the_depth_is_the_nesting_of_the_value(value: object) -> None:
    import json

    def depth(item: object) -> int:
        return 1 + max(map(depth, item), default=0) if isinstance(item, list) else 0

    assert json_depth(json.dumps(value).encode()) == depth(value)
