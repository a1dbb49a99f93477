"""Texts reach the writer's store and come back exactly: the PostgreSQL store writes them into
its query text as literals of its own (see ``store_postgres._literal``), so any text a request
can carry (quotes, backslashes, placeholders, every plane of Unicode) is tried."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from leadline.config import Settings
from leadline.tracking.schemas import SingleEvent
from leadline.tracking.store import EventRow, TrackingStore, open_store
from leadline.tracking.store_postgres import PostgresStore

AT = datetime(2026, 12, 6, 12, 0, 0, 123456, tzinfo=UTC)
# A character of each of Unicode's 17 planes, and what SQL and the drivers treat specially.
EVERY_PLANE = "".join(chr(plane * 0x10000 + 0x41) for plane in range(17))
AWKWARD = "it's \\' \\\\ '' \" %s %% ? $1 $$ \\x00 E'x' \n\r\t \u2028 \ufeff 😀"
# Every code point a request can carry: msgspec refuses lone surrogates (see below), and a NUL
# is refused by the PostgreSQL store (tried apart).
TEXTS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=200)
_ids = itertools.count()


def _row(text: str) -> EventRow:
    return EventRow(
        workspace_id="w",
        site_id="s",
        visit_id="v",
        client_id=f"text-{next(_ids)}",
        type=text[:64],
        occurred_at=AT,
        received_at=AT,
        url=text,
        data=msgspec.json.encode({"text": text}).decode(),
    )


def _stored(store: TrackingStore, client_id: str) -> tuple[Any, ...]:
    """The row as the database holds it, read through the driver's own binding."""
    query = "SELECT type, url, data FROM events WHERE client_id = ?"
    if isinstance(store, PostgresStore):
        query = query.replace("?", "%s")
    (row,) = store.connection.execute(query, (client_id,)).fetchall()
    return tuple(row)


@pytest.fixture
def store(settings: Settings) -> Any:
    opened = open_store(settings.sync_url)
    yield opened
    opened.close()


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=TEXTS, held=st.booleans())
@example(text=EVERY_PLANE, held=True)
@example(text=EVERY_PLANE, held=False)
@example(text=AWKWARD, held=True)
@example(text=AWKWARD, held=False)
def test_any_text_round_trips_through_the_store(
    store: TrackingStore, text: str, held: bool
) -> None:
    """``held``: the insert is held back and sent with the commit (a group that counts on its
    events being new), else sent at once and its rows read back."""
    row = _row(text)
    store.begin()
    store.insert_events([row], all_new=held)
    store.commit()
    kind, url, data = _stored(store, row.client_id)
    assert (kind, url) == (text[:64], text)
    assert (json.loads(data) if isinstance(data, str) else data) == {"text": text}


@pytest.mark.parametrize("held", [True, False])
def test_a_nul_character_is_refused_and_nothing_is_stored(
    settings: Settings, store: TrackingStore, held: bool
) -> None:
    """PostgreSQL's text holds no NUL: in a row's JSON the database refuses it (as it does
    the group's transaction), in a literal the store does."""
    if not isinstance(store, PostgresStore):
        pytest.skip("SQLite stores a NUL character as it came")
    import psycopg

    def group() -> None:
        store.begin()
        store.insert_events([_row("a\x00b")], all_new=held)
        store.commit()

    with pytest.raises(psycopg.DataError, match="cannot be converted to text"):
        group()
    store.rollback()
    assert store.connection.execute("SELECT count(*) FROM events").fetchall() == [(0,)]
    with pytest.raises(ValueError, match="NUL"):
        store.add_counts("a\x00b")


def test_a_lone_surrogate_never_reaches_the_store() -> None:
    body = b'{"siteKey": "k", "sessionId": "v", "type": "click", "url": "\\ud800"}'
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(body, type=SingleEvent)
