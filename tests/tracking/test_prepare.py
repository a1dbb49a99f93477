"""What a request prepares for the writer, apart from the writer: event rows and their summary,
and the ids the writer gives events sent without one."""

from __future__ import annotations

from datetime import UTC, datetime

from leadline.tracking.prepare import EventSummary, ServerIds, summarise
from leadline.tracking.store import EventRow

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _row(client_id: str, kind: str, url: str | None) -> EventRow:
    return EventRow(
        workspace_id="w",
        site_id="s",
        visit_id="v",
        client_id=client_id,
        type=kind,
        occurred_at=AT,
        received_at=AT,
        url=url,
        data="{}",
    )


def test_events_are_summarised_by_type_page_click_and_scroll() -> None:
    rows = [
        _row("1", "page_view", "https://shop.example/a?b=1"),
        _row("2", "click", None),
        _row("3", "navigation", "/x"),
        _row("4", "scroll", "/x"),
    ]
    assert summarise([rows[0]], {}, [0]) == EventSummary(1, 1, 0, None, {"page_view": 1}, {"/a": 1})
    assert summarise([rows[1]], {}, [0]) == EventSummary(1, 0, 1, None, {"click": 1}, {})
    assert summarise([rows[2]], {}, [0]).clicks == 0
    both = summarise(rows, {3: 40}, [0, 1, 3])  # the navigation left out
    assert (both.events, both.page_views, both.clicks, both.max_scroll) == (3, 1, 1, 40)
    assert both.types == {"page_view": 1, "click": 1, "scroll": 1}


def test_server_ids_grow_and_differ_between_writers() -> None:
    first, second = ServerIds(), ServerIds()
    ids = [first() for _ in range(1_000)]
    assert ids == sorted(ids, key=lambda found: int(found[:-8], 16))
    assert len(set(ids)) == len(ids)
    assert first.tag != second.tag or first() != second()
