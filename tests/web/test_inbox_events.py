"""A thread's new messages as server-sent events, read from a real server by a streaming
client: a message posted through the API arrives, a reconnection with Last-Event-ID misses
nothing, the stream ends by itself after its lifetime and when the browser goes away."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from leadline.web import inbox_stream as pages
from tests.fixtures.factories import make_key
from tests.fixtures.inbox import start
from tests.fixtures.leadiosa import bearer
from tests.fixtures.web import (
    cheap_hashing,  # noqa: F401  (a fixture)
    make_member,
    sign_in,
)

pytestmark = pytest.mark.usefixtures("cheap_hashing")

# Every read of the stream waits at most this long: a stream that says nothing fails the test
# instead of hanging it (the stream sends something every second at most POLL_SECONDS apart
# when there is news, and a comment every HEARTBEAT_SECONDS otherwise).
READ_TIMEOUT = 20.0


@dataclass
class Event:
    id: str | None = None
    data: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: str | None = None

    @property
    def html(self) -> str:
        return "\n".join(self.data)


def parse(lines: Iterator[str]) -> Iterator[Event]:
    """The stream's events (and its comments and retry field, each as an event of its own),
    as a browser's EventSource reads them."""
    event = Event()
    for line in lines:
        if line == "":
            yield event
            event = Event()
        elif line.startswith(":"):
            event.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                event.id = value
            elif name == "data":
                event.data.append(value)
            elif name == "retry":
                event.retry = value


@pytest.fixture
def leadiosa(settings: Settings) -> Iterator[TestClient]:
    make_member(settings, "acme", "owner@example.com", role="owner", name="Olive Owner")
    key = make_key(settings, "acme", "admin")
    with TestClient(create_app(settings), headers=bearer(key)) as api:
        yield api


@pytest.fixture
def browser_client(server: str, leadiosa: TestClient) -> Iterator[httpx.Client]:
    """A client signed in to the real server, as a browser would be."""
    with httpx.Client(base_url=server, timeout=READ_TIMEOUT) as client:
        sign_in(client, "owner@example.com")  # type: ignore[arg-type]
        yield client


def reply(api: TestClient, conversation_id: str, text: str) -> None:
    answer = api.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": text, "author": "contact"},
    )
    assert answer.status_code == 201, answer.text


def seq_of(event: Event) -> int:
    """The number of the last message the event says the browser has (its id is
    ``seq.micros``: the messages, then the notes' time)."""
    assert event.id is not None
    seq, _, since = event.id.partition(".")
    assert since.isdigit()
    return int(seq)


def until_message(events: Iterator[Event]) -> Event:
    for event in events:
        if event.data:
            return event
    raise AssertionError("the stream ended before a message came")


def test_a_message_posted_through_the_api_arrives_and_a_reconnection_misses_nothing(
    browser_client: httpx.Client, leadiosa: TestClient
) -> None:
    cid = start(leadiosa, contact={"name": "Ada"}, text="first")["id"]
    path = f"/app/inbox/{cid}/events?after=1"
    with browser_client.stream("GET", path) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-store"
        events = parse(stream.iter_lines())
        opening = next(events)
        assert opening.retry == "1000"
        reply(leadiosa, cid, "Is anyone there? <script>")
        event = until_message(events)
        assert seq_of(event) == 2
        assert event.html.startswith('<li id="entry-msg_')
        assert 'data-seq="2"' in event.html
        assert "Is anyone there? &lt;script&gt;" in event.html
        assert "<strong>Ada</strong>" in event.html

    # Away for a while: the messages written meanwhile come as soon as the browser is back.
    reply(leadiosa, cid, "third")
    reply(leadiosa, cid, "fourth")
    with browser_client.stream("GET", path, headers={"Last-Event-ID": "2"}) as stream:
        events = parse(stream.iter_lines())
        third, fourth = until_message(events), until_message(events)
        assert (seq_of(third), seq_of(fourth)) == (3, 4)
        assert "third" in third.html
        assert "fourth" in fourth.html

    # With nothing said, it starts after the conversation's last message.
    with browser_client.stream("GET", f"/app/inbox/{cid}/events") as stream:
        events = parse(stream.iter_lines())
        next(events)
        reply(leadiosa, cid, "fifth")
        event = until_message(events)
        assert seq_of(event) == 5


def test_a_note_arrives_as_a_note_and_once(
    browser_client: httpx.Client, leadiosa: TestClient
) -> None:
    cid = start(leadiosa)["id"]
    path = f"/app/inbox/{cid}/events"

    def note(text: str) -> None:
        answer = leadiosa.post(f"/api/v1/conversations/{cid}/notes", json={"text": text})
        assert answer.status_code == 201, answer.text

    with browser_client.stream("GET", path) as stream:
        events = parse(stream.iter_lines())
        next(events)
        note("Call her back <tomorrow>")
        event = until_message(events)
        assert 'class="entry entry-note"' in event.html
        assert "Internal note" in event.html
        assert "Call her back &lt;tomorrow&gt;" in event.html
        assert seq_of(event) == 1
        reply(leadiosa, cid, "Thanks")
        # Read again and again within the overlap, the note is not sent twice.
        following = until_message(events)
        assert seq_of(following) == 2
        assert "Thanks" in following.html
        last_id = following.id
    # Back with the last id: the note written meanwhile comes (and the one before may come
    # again, which the page skips by its id).
    note("Second note")
    with browser_client.stream("GET", path, headers={"Last-Event-ID": str(last_id)}) as stream:
        events = parse(stream.iter_lines())
        seen = [until_message(events).html]
        while "Second note" not in seen[-1]:
            seen.append(until_message(events).html)
    assert not any("Thanks" in html for html in seen)


def test_the_stream_ends_after_its_lifetime_and_says_it_is_alive_meanwhile(
    browser_client: httpx.Client, leadiosa: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "LIFETIME_SECONDS", 2.5)
    monkeypatch.setattr(pages, "HEARTBEAT_SECONDS", 0.5)
    monkeypatch.setattr(pages, "POLL_SECONDS", 0.2)
    cid = start(leadiosa)["id"]
    with browser_client.stream("GET", f"/app/inbox/{cid}/events") as stream:
        seen = list(parse(stream.iter_lines()))
    # The loop above ends only because the server ended the stream.
    assert seen[0].retry == "1000"
    assert any("still here" in event.comments for event in seen)
    assert not any(event.data for event in seen)


def test_the_stream_stops_reading_when_the_browser_goes_away(
    browser_client: httpx.Client, leadiosa: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "POLL_SECONDS", 0.1)
    reads: list[float] = []
    original = pages.Stream._news

    async def counted(self: pages.Stream) -> object:
        reads.append(time.monotonic())
        return await original(self)

    monkeypatch.setattr(pages.Stream, "_news", counted)
    cid = start(leadiosa)["id"]
    with browser_client.stream("GET", f"/app/inbox/{cid}/events") as stream:
        events = parse(stream.iter_lines())
        next(events)
        reply(leadiosa, cid, "hello")
        until_message(events)
    assert reads
    time.sleep(1.0)  # a read under way when the browser left may still finish
    settled = len(reads)
    time.sleep(1.5)  # ten reads' worth, had the stream gone on
    assert len(reads) == settled


def test_a_stream_of_someone_signed_out_ends(
    browser_client: httpx.Client, leadiosa: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "RECHECK_SECONDS", 0.0)
    monkeypatch.setattr(pages, "POLL_SECONDS", 0.1)
    cid = start(leadiosa)["id"]
    with browser_client.stream("GET", f"/app/inbox/{cid}/events") as stream:
        events = parse(stream.iter_lines())
        next(events)
        home = browser_client.get("/app/")
        csrf = home.text.split('name="csrf_token" value="')[1].split('"')[0]
        signed_out = browser_client.post(
            "/app/signout", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert signed_out.status_code == 303
        rest = list(events)  # ends: the server closed the stream
    assert not any(event.data for event in rest)
