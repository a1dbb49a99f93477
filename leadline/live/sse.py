"""A topic as server-sent events: what the client missed first (from the database), then the
hub, with heartbeat comments, until the client goes away.

The stream subscribes before it reads the database, so a message committed meanwhile is either
in what it reads or heard from the hub; events at or before the last id sent are skipped, so
nothing is sent twice and nothing is lost. A subscriber dropped for falling behind subscribes
again and reads the database again from where it was.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from leadline.live.hub import Hub, LiveEvent

HEARTBEAT_SECONDS = 15.0
# One connection lasts this long at most (the client connects again, and is checked again).
LIFETIME_SECONDS = 30 * 60.0
RETRY_MILLISECONDS = 2000
_NUMBER = re.compile(r"[0-9]{1,18}")

# Events after a given id, from the database, oldest first (one page; an empty page: no more).
Replay = Callable[[int | None], Awaitable[list[LiveEvent]]]


def last_event_id(headers: Mapping[str, str], query: Mapping[str, str]) -> int | None:
    """Where a client has read to: Last-Event-ID when it connects again, else ``after``."""
    for given in (headers.get("last-event-id", ""), query.get("after", "")):
        given = given.strip()
        if _NUMBER.fullmatch(given):
            return int(given)
    return None


def encode(item: LiveEvent) -> str:
    data = json.dumps(item.data, separators=(",", ":"), default=str)
    head = f"id: {item.id}\n" if item.id is not None else ""
    return f"{head}event: {item.kind}\ndata: {data}\n\n"


async def stream(
    hub: Hub,
    topic: str,
    after: int | None,
    replay: Replay,
    *,
    transform: Callable[[LiveEvent], LiveEvent] | None = None,
    heartbeat: float | None = None,
    lifetime: float | None = None,
) -> AsyncIterator[str]:
    """The event stream's text. Ends after ``lifetime``; the response ends it when the client
    disconnects (closing the generator closes the subscription). ``transform`` rewrites what
    the hub delivers (``replay`` gives events as they are to be sent)."""
    heartbeat = HEARTBEAT_SECONDS if heartbeat is None else heartbeat
    lifetime = LIFETIME_SECONDS if lifetime is None else lifetime
    started = time.monotonic()
    # Subscribed before the first line goes out: a client that has read it misses nothing.
    sub = hub.subscribe(topic, after)
    try:
        yield f"retry: {RETRY_MILLISECONDS}\n\n"
        while True:
            # What the database has after the last id sent.
            while True:
                if sub.dropped:  # fell behind while catching up: follow again, then read
                    sub = hub.subscribe(topic, after)
                missed = await replay(after)
                if not missed:
                    break
                for item in missed:
                    if item.id is not None and (after is None or item.id > after):
                        after = item.id
                        yield encode(item)
            if after is not None:
                sub.after = max(sub.after or 0, after)
            while time.monotonic() - started < lifetime:
                heard = await sub.next(heartbeat)
                if heard is None:
                    if sub.closed:
                        break
                    yield ": heartbeat\n\n"
                    continue
                if heard.id is not None:
                    if after is not None and heard.id <= after:
                        continue  # queued while the database was read, and sent from there
                    after = heard.id
                yield encode(transform(heard) if transform is not None else heard)
            if not sub.dropped:
                return
            sub = hub.subscribe(topic, after)
    finally:
        sub.close()
