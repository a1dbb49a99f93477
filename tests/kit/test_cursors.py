"""Opaque cursors: what goes in comes out; anything else is a 400 naming the parameter."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadline.errors import InvalidCursor
from leadline.kit import cursors


def seq(key: dict[str, Any]) -> int:
    return cursors.integer(key["seq"])


def position(key: dict[str, Any]) -> tuple[datetime, str]:
    return cursors.timestamp(key["at"]), cursors.identifier(key["id"])


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_an_integer_key_round_trips(value: int) -> None:
    cursor = cursors.encode({"seq": value})
    assert cursor.startswith("cur_")
    assert "=" not in cursor
    assert cursors.decode(cursor, seq) == value


def test_a_time_and_id_key_round_trips_to_the_microsecond() -> None:
    at = datetime(2026, 5, 12, 7, 28, 25, 901234, tzinfo=UTC)
    cursor = cursors.encode({"at": cursors.time_key(at), "id": "job_01m848x6nccxyrprxwvm505235"})
    assert cursors.decode(cursor, position) == (at, "job_01m848x6nccxyrprxwvm505235")


def raw(content: bytes) -> str:
    return "cur_" + base64.urlsafe_b64encode(content).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("cursor", "read"),
    [
        ("", seq),
        ("abc", seq),
        ("cur_", seq),
        ("cur_a", seq),  # not a whole base64 quantum
        ("cur_eyJzZXEiOjF9 ", seq),
        ("cur_eyJzZXEiOjF9\x00", seq),
        ("cur_" + "A" * 600, seq),
        (raw(b"\xff\xfe"), seq),
        (raw(b"null"), seq),
        (raw(b'"seq"'), seq),
        (raw(b"{}"), seq),
        (raw(b'{"seq": 1.5}'), seq),
        (raw(b'{"seq": false}'), seq),
        (raw(b'{"seq": 9223372036854775808}'), seq),
        (raw(b'{"at": "yesterday", "id": "job_1"}'), position),
        (raw(b'{"at": 5, "id": "job_1"}'), position),
        (raw(b'{"at": "2026-05-12T07:28:25Z", "id": "job\\u0000"}'), position),
        (raw(b'{"at": "2026-05-12T07:28:25Z", "id": ""}'), position),
    ],
)
def test_anything_else_is_refused(cursor: str, read: Any) -> None:
    with pytest.raises(InvalidCursor, match="after") as refused:
        cursors.decode(cursor, read)
    assert refused.value.status_code == 400
    assert refused.value.code == "invalid_cursor"
    assert refused.value.details == {"parameter": "after"}


def content_of(cursor: str) -> Any:
    """What a well-formed cursor carries, read here without the module under test."""
    body = cursor[len("cur_") :]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


@given(
    st.text(max_size=80)
    | st.text(max_size=80).map(lambda t: "cur_" + t)
    # Cursors this module made, some cut short or with a character added, so that the
    # accepting side is exercised too (random text almost never decodes).
    | st.builds(
        lambda value, cut, extra: cursors.encode({"seq": value})[: cut or None] + extra,
        st.integers(min_value=0, max_value=2**63 - 1),
        st.integers(min_value=-3, max_value=0),
        st.sampled_from(["", "A", "=", "_"]),
    )
)
def test_no_text_breaks_the_decoder(text: str) -> None:
    """Whatever a client sends, the answer is InvalidCursor or exactly the key the text
    carries, never another error and never some other value."""
    try:
        decoded = cursors.decode(text, seq)
    except InvalidCursor:
        return
    assert isinstance(decoded, int)
    assert decoded == content_of(text)["seq"]


def test_a_page_points_after_its_last_item() -> None:
    more = cursors.page([3, 2], has_more=True, key=lambda n: {"seq": n})
    assert more.has_more
    assert more.next_cursor is not None
    assert cursors.decode(more.next_cursor, seq) == 2
    last = cursors.page([1], has_more=False, key=lambda n: {"seq": n})
    assert (last.has_more, last.next_cursor) == (False, None)
    assert cursors.page([], has_more=False, key=lambda n: {"seq": n}).next_cursor is None
