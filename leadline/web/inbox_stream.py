"""An open thread's new messages and notes, as server-sent events.

The stream wakes when the live hub says the conversation has news, and reads the database
anyway every so often in case an event was missed; each event is the entry's HTML as the
thread shows it, and its id says how far the browser has read, so a browser that connects
again carries on where it was.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from leadline import live
from leadline.accounts import service as accounts
from leadline.accounts.service import SignedIn
from leadline.auth.service import Principal
from leadline.errors import NotFound
from leadline.inbox import messages as inbox_messages
from leadline.inbox import service as inbox
from leadline.kit.time import utcnow
from leadline.models import Conversation, Note
from leadline.web import access
from leadline.web.access import SIGNIN_COOKIE, page
from leadline.web.inbox import (
    _EPOCH,
    _MICROSECOND,
    _NUMBER,
    Entry,
    Names,
    message_entry,
    micros,
    note_entry,
)
from leadline.web.rendering import render

# The live stream: how often it looks for new messages, how often it says it is alive, how
# long one connection lasts (the browser connects again, from the last message it has), and
# how often it checks that the sign-in still holds.
POLL_SECONDS = 1.0
# With the live hub the stream wakes when the conversation has news; it still reads this often
# in case an event was missed (another process's, while Redis was unreachable).
HUB_POLL_SECONDS = 10.0
HEARTBEAT_SECONDS = 15.0
LIFETIME_SECONDS = 60.0
RECHECK_SECONDS = 30.0
RETRY_MILLISECONDS = 1000
STREAM_BATCH = 50
# How far before the last note sent the stream looks again for notes (see Stream), and how
# many pages of notes it reads at most at once.
NOTES_OVERLAP = timedelta(seconds=10)
NOTES_PAGES = 10

# What ends a line in an event stream.
_LINES = re.compile(r"\r\n|\r|\n")


@dataclass
class Position:
    """How far a browser has read a conversation: its messages up to ``seq``, and the notes
    written up to ``notes_since``. An event's id says both (``seq.micros``), so the browser
    sends them back in Last-Event-ID when it connects again."""

    seq: int
    notes_since: datetime

    @property
    def event_id(self) -> str:
        return f"{self.seq}.{micros(self.notes_since)}"

    @classmethod
    def of(cls, request: Request, conversation: Conversation) -> Position:
        """Where the stream starts: Last-Event-ID when the browser connects again, else what
        the page gave it (``after``, ``since``), else the conversation's last message and
        now."""
        seq: int | None = None
        since: int | None = None
        given = request.headers.get("last-event-id", "").strip()
        if given:
            seq_text, _, since_text = given.partition(".")
            seq = int(seq_text) if _NUMBER.fullmatch(seq_text) else None
            since = int(since_text) if _NUMBER.fullmatch(since_text) else None
        params = request.query_params
        if seq is None and _NUMBER.fullmatch(params.get("after", "")):
            seq = int(params["after"])
        if since is None and _NUMBER.fullmatch(params.get("since", "")):
            since = int(params["since"])
        now = utcnow()
        try:
            notes_since = min(_EPOCH + since * _MICROSECOND, now) if since is not None else now
        except OverflowError:
            notes_since = now
        return cls(seq=conversation.message_count if seq is None else seq, notes_since=notes_since)


def _event(event_id: str, html: str) -> str:
    """An event of the stream: its id, and its data a line at a time (the browser joins them
    with line feeds)."""
    data = "".join(f"data: {line}\n" for line in _LINES.split(html.strip()))
    return f"id: {event_id}\n{data}\n"


@page
async def events(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The conversation's new messages and notes as server-sent events: each event's data is
    the entry's HTML, as the thread shows it, and its id where the stream has got to."""
    access.require_area(who, "inbox")
    principal = who.principal
    conversation = await inbox.get_conversation(
        session, principal, request.path_params["conversation_id"]
    )
    names = await Names.of_workspace(session, who.workspace.id)
    contact = await names.contact(session, who.workspace.id, conversation.contact_id)
    stream = Stream(
        request=request,
        principal=principal,
        conversation_id=conversation.id,
        position=Position.of(request, conversation),
        secret=request.cookies.get(SIGNIN_COOKIE, ""),
        names=names,
        contact=contact,
    )
    return StreamingResponse(
        stream.run(),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )


@dataclass
class Stream:
    """One browser's connection to a conversation's new entries: every POLL_SECONDS it reads
    the messages after the last one sent (by their number, which is given in order) and the
    notes written since NOTES_OVERLAP before the last one sent (a note's time is taken before
    its transaction commits, so a note may become visible after a later one); each read in a
    transaction of its own. A note sent again is one the page has already, and is skipped
    there by its id."""

    request: Request
    principal: Principal
    conversation_id: str
    position: Position
    secret: str
    names: Names
    contact: str
    sent_notes: set[str] = field(default_factory=set)
    news: live.Subscription = field(init=False)

    async def run(self) -> AsyncIterator[str]:
        # The workspace's topic says when this conversation has a new message or note.
        hub = live.hub()
        self.news = hub.subscribe(live.workspace_topic(self.principal.workspace_id))
        try:
            async for chunk in self._run():
                yield chunk
        finally:
            self.news.close()

    async def _wait(self, until: float) -> None:
        """Until the conversation has news, or the time to read anyway: POLL_SECONDS when the
        hub may not hear every process (the fallback), else HUB_POLL_SECONDS, and never past
        ``until`` (the next heartbeat, the end of the stream's life)."""
        hub = live.hub()
        if not hub.connected or self.news.closed:
            if self.news.closed:  # dropped for falling behind: follow again
                self.news = hub.subscribe(live.workspace_topic(self.principal.workspace_id))
            await asyncio.sleep(POLL_SECONDS)
            return
        deadline = min(until, time.monotonic() + HUB_POLL_SECONDS)
        while (left := deadline - time.monotonic()) > 0:
            heard = await self.news.next(left)
            if heard is None:
                if self.news.closed or not hub.connected:
                    return
                continue
            ours = heard.data.get("conversation_id") == self.conversation_id
            if ours and heard.kind in ("message.created", "note.created"):
                return

    async def _run(self) -> AsyncIterator[str]:
        yield f"retry: {RETRY_MILLISECONDS}\n\n"
        started = checked = beat = time.monotonic()
        while time.monotonic() - started < LIFETIME_SECONDS:
            now = time.monotonic()
            if now - checked >= RECHECK_SECONDS:
                if not await self._still_signed_in():
                    return
                checked = now
            try:
                found = await self._news()
            except NotFound:
                return  # the conversation is gone
            for entry in found.entries:
                if entry.kind == "message":
                    self.position.seq = entry.seq
                else:
                    self.sent_notes.add(entry.id)
                    self.position.notes_since = max(self.position.notes_since, entry.at)
                yield _event(self.position.event_id, self._html(entry))
            if found.more:
                continue
            if time.monotonic() - beat >= HEARTBEAT_SECONDS:
                beat = time.monotonic()
                yield ": still here\n\n"
            await self._wait(min(beat + HEARTBEAT_SECONDS, started + LIFETIME_SECONDS))

    async def _still_signed_in(self) -> bool:
        async with access.database(self.request).transaction() as session:
            return await accounts.signed_in(session, self.secret) is not None

    async def _news(self) -> News:
        async with access.database(self.request).transaction() as session:
            messages = await inbox_messages.list_messages(
                session,
                self.principal,
                self.conversation_id,
                limit=STREAM_BATCH,
                after_seq=self.position.seq,
            )
            notes = await self._new_notes(session)
            written_by = {m.person_id for m in messages.messages} | {n.person_id for n in notes}
            if (written_by - {None}) - set(self.names.people):
                self.names = await Names.of_workspace(session, self.principal.workspace_id)
        entries = [message_entry(m, self.names, self.contact) for m in messages.messages]
        entries.extend(note_entry(note, self.names) for note in notes)
        return News(entries=entries, more=messages.has_more)

    async def _new_notes(self, session: AsyncSession) -> list[Note]:
        after: tuple[datetime, str] = (self.position.notes_since - NOTES_OVERLAP, "")
        found: list[Note] = []
        for _ in range(NOTES_PAGES):
            page_of_notes = await inbox_messages.list_notes(
                session, self.principal, self.conversation_id, limit=STREAM_BATCH, after=after
            )
            found.extend(n for n in page_of_notes.notes if n.id not in self.sent_notes)
            if not page_of_notes.has_more or not page_of_notes.notes:
                break
            last = page_of_notes.notes[-1]
            after = (last.created_at, last.id)
        return found

    def _html(self, entry: Entry) -> str:
        answer = render(self.request, "inbox/_entry.html", {"entry": entry})
        return bytes(answer.body).decode()


@dataclass(frozen=True, slots=True)
class News:
    """What one read of the stream found; ``more``: more messages wait to be read at once."""

    entries: list[Entry]
    more: bool


ROUTES: list[BaseRoute] = [
    Route("/inbox/{conversation_id}/events", events, methods=["GET"]),
]
