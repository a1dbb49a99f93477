"""``/conversations``: the inbox's threads, their messages and operators' notes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import Response, StreamingResponse

from leadline import live
from leadline.auth.roles import Permission
from leadline.http import database
from leadline.idempotency.service import replay_or_run
from leadline.inbox import messages as inbox_messages
from leadline.inbox import rules as inbox_rules
from leadline.inbox import service as inbox
from leadline.inbox.schemas import UNSET, Author, ContactFields, ConversationChanges
from leadline.kit import cursors
from leadline.kit import tags as tag_rules
from leadline.kit.time import iso_millis
from leadline.live import sse
from leadline.models import Conversation, Message, Note
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.dependencies import (
    DEFAULT_LIMIT,
    TIME_SCHEMA,
    After,
    Caller,
    Limit,
    Session,
    plain_text,
    time_parameter,
)
from leadline.surfaces.leadiosa.envelope import data, omit_empty, page

router = APIRouter(tags=["conversations"])

ConversationId = Annotated[
    str, Path(max_length=64, description="The conversation's id (`conv_...`).")
]
StatusName = Literal["open", "snoozed", "closed", "spam"]
AuthorName = Literal["contact", "operator", "ai"]
Text = Annotated[str, StringConstraints(min_length=1, max_length=inbox_rules.TEXT_LENGTH)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=tag_rules.TAG_LENGTH)]


def _time_or_null(schema: dict[str, Any]) -> None:
    """A body field taking a date-time (or a date), an empty text or null."""
    schema.pop("type", None)
    schema["anyOf"] = [*TIME_SCHEMA["anyOf"], {"type": "null"}]
    for choice in schema["anyOf"][:-1]:
        choice["type"] = "string"


# ----------------------------------------------------------------------------- schemas


class ContactRef(BaseModel):
    """An existing contact by ``id``; or someone found by ``email``, else ``phone``, else
    created with these fields."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, min_length=1, max_length=64, examples=["ct_01m84j..."])
    email: str | None = Field(default=None, max_length=320, examples=["ada@example.com"])
    name: str | None = Field(default=None, max_length=200, examples=["Ada Lovelace"])
    phone: str | None = Field(default=None, max_length=40, examples=["+31 6 12345678"])


class FirstMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text


class NewConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact: ContactRef
    message: FirstMessage = Field(description="The contact's first message.")
    subject: str | None = Field(default=None, max_length=inbox_rules.SUBJECT_LENGTH)
    visit_id: str | None = Field(
        default=None,
        max_length=64,
        description="The tracked visit it started in (`session_id` of the tracker): a lead "
        "made of the contact takes its attribution. Ignored if no visit has this id.",
    )


class ConversationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: StatusName | None = Field(
        default=None,
        description="open, snoozed (with a future `snoozed_until`), closed or spam, as the "
        "current status allows; else 422 `invalid_transition`.",
    )
    assignee_id: str | None = Field(
        default=None,
        max_length=64,
        description="A person of the workspace (`per_...`); null unassigns.",
    )
    snoozed_until: str | None = Field(
        default=None,
        description="When a snoozed conversation opens again (ISO-8601, in the future).",
        json_schema_extra=_time_or_null,
    )
    subject: str | None = Field(default=None, max_length=inbox_rules.SUBJECT_LENGTH)
    tags: list[Tag] | None = Field(default=None, max_length=tag_rules.TAGS)


class NewMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text
    author: AuthorName | None = Field(
        default=None, description="Who wrote it; operator when left out."
    )


class NewNote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text


class ConversationOut(BaseModel):
    id: str
    contact_id: str
    status: StatusName
    assignee_id: str | SkipJsonSchema[None] = None
    assigned_at: datetime | SkipJsonSchema[None] = None
    subject: str | SkipJsonSchema[None] = None
    tags: list[str] | SkipJsonSchema[None] = Field(default=None, description="Absent when none.")
    snoozed_until: datetime | SkipJsonSchema[None] = None
    first_reply_at: datetime | SkipJsonSchema[None] = None
    waiting_since: datetime | SkipJsonSchema[None] = Field(
        default=None, description="Since when the contact has waited for an operator's reply."
    )
    visit_id: str | SkipJsonSchema[None] = None
    message_count: int
    last_activity_at: datetime
    created_at: datetime
    updated_at: datetime


class ConversationEnvelope(BaseModel):
    data: ConversationOut


class ConversationList(BaseModel):
    data: list[ConversationOut]
    pagination: s.Pagination


class MessageOut(BaseModel):
    id: str
    conversation_id: str
    seq: int = Field(description="1, 2, 3, ... in the conversation")
    author: AuthorName
    person_id: str | SkipJsonSchema[None] = Field(
        default=None, description="The operator who wrote it, when a person's token did."
    )
    text: str
    quarantined: bool = Field(description="From a contact marked spam: kept, not acted on.")
    created_at: datetime


class MessageEnvelope(BaseModel):
    data: MessageOut


class MessageList(BaseModel):
    data: list[MessageOut]
    pagination: s.Pagination


class NoteOut(BaseModel):
    id: str
    conversation_id: str
    person_id: str | SkipJsonSchema[None] = None
    key_id: str | SkipJsonSchema[None] = Field(
        default=None, description="The API key that wrote it, when no person's token did."
    )
    text: str
    mentions: list[str] | SkipJsonSchema[None] = Field(
        default=None, description="Email addresses of the workspace's people it @-mentions."
    )
    created_at: datetime


class NoteEnvelope(BaseModel):
    data: NoteOut


class NoteList(BaseModel):
    data: list[NoteOut]
    pagination: s.Pagination


# --------------------------------------------------------------------------- rendering


def _time(value: datetime | None) -> str | None:
    return iso_millis(value) if value is not None else None


def render_conversation(conversation: Conversation) -> dict[str, Any]:
    return omit_empty(
        {
            "id": conversation.id,
            "contact_id": conversation.contact_id,
            "status": conversation.status,
            "assignee_id": conversation.assignee_id,
            "assigned_at": _time(conversation.assigned_at),
            "subject": conversation.subject,
            "tags": inbox_rules.tags_of(conversation),
            "snoozed_until": _time(conversation.snoozed_until),
            "first_reply_at": _time(conversation.first_reply_at),
            "waiting_since": _time(conversation.waiting_since),
            "visit_id": conversation.visit_id,
            "message_count": conversation.message_count,
            "last_activity_at": _time(conversation.last_activity_at),
            "created_at": _time(conversation.created_at),
            "updated_at": _time(conversation.updated_at),
        }
    )


def render_message(message: Message) -> dict[str, Any]:
    return omit_empty(
        {
            "id": message.id,
            "conversation_id": message.conversation_id,
            "seq": message.seq,
            "author": message.author,
            "person_id": message.person_id,
            "text": message.text,
            "quarantined": message.quarantined,
            "created_at": _time(message.created_at),
        }
    )


def render_note(note: Note) -> dict[str, Any]:
    return omit_empty(
        {
            "id": note.id,
            "conversation_id": note.conversation_id,
            "person_id": note.person_id,
            "key_id": note.key_id,
            "text": note.text,
            "mentions": inbox_rules.mentions_of(note),
            "created_at": _time(note.created_at),
        }
    )


def _activity_position(key: dict[str, Any]) -> tuple[datetime, str]:
    return cursors.timestamp(key["last_activity_at"]), cursors.identifier(key["id"])


def _activity_key(conversation: Conversation) -> dict[str, Any]:
    return {
        "last_activity_at": cursors.time_key(conversation.last_activity_at),
        "id": conversation.id,
    }


def _seq(key: dict[str, Any]) -> int:
    return cursors.integer(key["seq"])


def _created_position(key: dict[str, Any]) -> tuple[datetime, str]:
    return cursors.timestamp(key["created_at"]), cursors.identifier(key["id"])


def _created_key(note: Note) -> dict[str, Any]:
    return {"created_at": cursors.time_key(note.created_at), "id": note.id}


# ------------------------------------------------------------------------------ routes

CONVERSATION = "/conversations/{conversation_id}"


@router.get("/conversations", response_model=ConversationList, responses=s.responses(400))
async def list_conversations(
    session: Session,
    caller: Caller,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    status: Annotated[StatusName | None, Query(description="Only those in this status.")] = None,
    assignee_id: Annotated[
        str | None,
        Query(max_length=64, description="Only those assigned to this person; `none`: unassigned."),
    ] = None,
    contact_id: Annotated[
        str | None, Query(max_length=64, description="Only this contact's.")
    ] = None,
    updated_after: Annotated[
        str | None,
        Query(
            description="Only those changed after this ISO-8601 time (UTC if no zone).",
            json_schema_extra=TIME_SCHEMA,
        ),
    ] = None,
) -> Response:
    """The workspace's conversations, newest activity (a message) first."""
    caller.require(Permission.INBOX)
    only = inbox_rules.conversation_filter(
        status=status,
        assignee_id=plain_text(assignee_id, "assignee_id") or None,
        contact_id=plain_text(contact_id, "contact_id") or None,
        updated_after=time_parameter(updated_after, "updated_after"),
    )
    found = await inbox.list_conversations(
        session, caller, only, limit=limit, after=cursors.resume(after, _activity_position)
    )
    listed = cursors.page(found.conversations, has_more=found.has_more, key=_activity_key)
    return page(listed, (render_conversation(item) for item in listed.items))


@router.post(
    "/conversations",
    status_code=201,
    response_model=ConversationEnvelope,
    responses=s.responses(400, 404, 413),
)
async def create_conversation(session: Session, caller: Caller, body: NewConversation) -> Response:
    """A conversation with a contact (by id, else found by email or phone, else new), its
    first message from the contact. Assigned round robin among online people when the
    workspace assigns automatically."""
    caller.require(Permission.INBOX)
    contact = body.contact
    started = await inbox.start_conversation(
        session,
        caller,
        contact=ContactFields(
            id=contact.id, email=contact.email, name=contact.name, phone=contact.phone
        ),
        text=body.message.text,
        subject=body.subject,
        visit_id=body.visit_id,
    )
    return data(render_conversation(started.conversation), status_code=201)


@router.get(CONVERSATION, response_model=ConversationEnvelope, responses=s.responses(400, 404))
async def get_conversation(
    session: Session, caller: Caller, conversation_id: ConversationId
) -> Response:
    caller.require(Permission.INBOX)
    return data(render_conversation(await inbox.get_conversation(session, caller, conversation_id)))


@router.patch(
    CONVERSATION,
    response_model=ConversationEnvelope,
    responses=s.responses(400, 404, 409, 413, 422),
)
async def update_conversation(
    session: Session, caller: Caller, conversation_id: ConversationId, body: ConversationPatch
) -> Response:
    """Change its status, assignee, snooze, subject or tags; fields left out stay."""
    caller.require(Permission.INBOX)
    given = body.model_fields_set
    changes = ConversationChanges(
        status=body.status if body.status is not None else UNSET,
        assignee_id=body.assignee_id if "assignee_id" in given else UNSET,
        snoozed_until=(
            time_parameter(body.snoozed_until, "snoozed_until")
            if "snoozed_until" in given
            else UNSET
        ),
        subject=body.subject if "subject" in given else UNSET,
        tags=body.tags if body.tags is not None else UNSET,
    )
    conversation = await inbox.update_conversation(session, caller, conversation_id, changes)
    return data(render_conversation(conversation))


@router.get(CONVERSATION + "/messages", response_model=MessageList, responses=s.responses(400, 404))
async def list_messages(
    session: Session,
    caller: Caller,
    conversation_id: ConversationId,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Response:
    """The conversation's messages, oldest first (by `seq`); a spam contact's are listed
    with `quarantined: true`."""
    caller.require(Permission.INBOX)
    found = await inbox_messages.list_messages(
        session, caller, conversation_id, limit=limit, after_seq=cursors.resume(after, _seq)
    )
    listed = cursors.page(found.messages, has_more=found.has_more, key=lambda m: {"seq": m.seq})
    return page(listed, (render_message(item) for item in listed.items))


@router.post(
    CONVERSATION + "/messages",
    status_code=201,
    response_model=MessageEnvelope,
    responses=s.responses(400, 404, 409, 413),
)
async def post_message(
    request: Request,
    session: Session,
    caller: Caller,
    conversation_id: ConversationId,
    body: NewMessage,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="A retry with the same key and body answers the first message.",
        ),
    ] = None,
) -> Response:
    """A message at the end of the conversation: an operator's reply by default (the person
    whose token posts it), or the contact's or the AI's."""
    caller.require(Permission.INBOX)

    async def run() -> tuple[int, dict[str, Any]]:
        message = await inbox_messages.post_message(
            session, caller, conversation_id, text=body.text, author=body.author
        )
        return 201, render_message(message)

    ttl = timedelta(hours=request.state.settings.idempotency_ttl_hours)
    status_code, item = await replay_or_run(session, caller, idempotency_key, request, run, ttl=ttl)
    return data(item, status_code=status_code)


@router.get(CONVERSATION + "/notes", response_model=NoteList, responses=s.responses(400, 404))
async def list_notes(
    session: Session,
    caller: Caller,
    conversation_id: ConversationId,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Response:
    """Operators' notes on the conversation, oldest first. Never shown to the contact."""
    caller.require(Permission.INBOX)
    found = await inbox_messages.list_notes(
        session,
        caller,
        conversation_id,
        limit=limit,
        after=cursors.resume(after, _created_position),
    )
    listed = cursors.page(found.notes, has_more=found.has_more, key=_created_key)
    return page(listed, (render_note(item) for item in listed.items))


@router.post(
    CONVERSATION + "/notes",
    status_code=201,
    response_model=NoteEnvelope,
    responses=s.responses(400, 404, 413),
)
async def add_note(
    session: Session, caller: Caller, conversation_id: ConversationId, body: NewNote
) -> Response:
    """A note for operators; `@email` of the workspace's people are recorded in `mentions`."""
    caller.require(Permission.INBOX)
    note = await inbox_messages.add_note(session, caller, conversation_id, text=body.text)
    return data(render_note(note), status_code=201)


# ---------------------------------------------------------------------- live delivery

# Messages read from the database at once when a stream starts or resumes.
REPLAY_PAGE = 100
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get(
    CONVERSATION + "/stream",
    response_class=StreamingResponse,
    responses={
        **s.responses(404),
        200: {
            "description": "Server-sent events: `message.created` (with `id:` its `seq`) and "
            "`typing`; comment lines as heartbeats.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
)
async def stream(
    request: Request,
    session: Session,
    caller: Caller,
    conversation_id: ConversationId,
    after: Annotated[
        int | None,
        Query(ge=0, le=10**18, description="Start after this `seq` (else Last-Event-ID)."),
    ] = None,
) -> Response:
    """The conversation's new messages and typing as they happen (docs/live.md). Sends first
    every message after the `Last-Event-ID` header (or `after`; without either, only what
    comes next), then follows."""
    caller.require(Permission.INBOX)
    conversation = await inbox.get_conversation(session, caller, conversation_id)
    start = sse.last_event_id(request.headers, {"after": "" if after is None else str(after)})
    db = database(request)

    async def replay(after_seq: int | None) -> list[live.LiveEvent]:
        if after_seq is None:
            return []
        async with db.transaction() as reading:
            found = await inbox_messages.list_messages(
                reading, caller, conversation.id, limit=REPLAY_PAGE, after_seq=after_seq
            )
        return [inbox_messages.message_event(message) for message in found.messages]

    if start is None:
        start = conversation.message_count
    topic = live.conversation_topic(caller.workspace_id, conversation.id)
    return StreamingResponse(
        sse.stream(
            live.hub(), topic, start, replay, lifetime=request.state.settings.live_stream_seconds
        ),
        media_type="text/event-stream",
        headers=STREAM_HEADERS,
    )


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        **s.responses(),
        200: {
            "description": "Server-sent events without ids: `message.created`, `note.created`,"
            " `typing` (contacts'), `presence`; comment lines as heartbeats.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
)
async def workspace_stream(request: Request, caller: Caller) -> Response:
    """What an operators' inbox follows, as it happens (docs/live.md): every new message
    (not quarantined ones) and note, contacts' typing, and people's presence as their
    availability crosses `online`. Nothing is replayed: after a reconnect, list what changed."""
    caller.require(Permission.INBOX)

    async def nothing(_after: int | None) -> list[live.LiveEvent]:
        return []

    topic = live.workspace_topic(caller.workspace_id)
    return StreamingResponse(
        sse.stream(
            live.hub(), topic, None, nothing, lifetime=request.state.settings.live_stream_seconds
        ),
        media_type="text/event-stream",
        headers=STREAM_HEADERS,
    )


class TypingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    typing: bool = Field(default=True, description="false: stopped typing.")


class TypingOut(BaseModel):
    conversation_id: str
    typing: bool


class TypingEnvelope(BaseModel):
    data: TypingOut


@router.post(
    CONVERSATION + "/typing", response_model=TypingEnvelope, responses=s.responses(404, 409)
)
async def typing(
    session: Session,
    caller: Caller,
    conversation_id: ConversationId,
    body: TypingIn | None = None,
) -> Response:
    """Tell the conversation's streams that the operator is typing (or stopped, with
    `typing: false`); nothing is stored."""
    caller.require(Permission.INBOX)
    now_typing = body.typing if body is not None else True
    conversation = await inbox_messages.typing(
        session, caller, conversation_id, author=Author.OPERATOR, typing=now_typing
    )
    return data({"conversation_id": conversation.id, "typing": now_typing})
