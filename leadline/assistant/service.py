"""The assistant's rules: a workspace's settings (off by default), the per-conversation
switch, and the reply to a contact's message: an answer from the knowledge base posted as
``ai`` (mode ``answer_when_offline``, nobody online) or kept as a draft for operators (mode
``suggest_drafts``), else a hand-off to the people on shift (``ai.handoff``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.assistant import provider as chat
from leadline.assistant import secrets
from leadline.assistant.repository import AssistantRepository
from leadline.audit import service as audit
from leadline.auth.roles import Role
from leadline.auth.service import Principal
from leadline.config import Settings
from leadline.errors import Conflict, LeadlineError, NotFound, ValidationFailed
from leadline.inbox import messages as inbox_messages
from leadline.inbox import rules as inbox_rules
from leadline.inbox import service as inbox
from leadline.jobs import service as jobs
from leadline.kit.ids import new_id
from leadline.kit.time import iso_millis, utcnow
from leadline.knowledge import service as knowledge
from leadline.models import (
    AssistantConversation,
    AssistantDraft,
    AssistantSettings,
    AssistantUsage,
    Conversation,
    Message,
)
from leadline.people import service as people
from leadline.webhooks import service as webhooks
from leadline.workspaces import service as workspaces

ANSWER_WHEN_OFFLINE = "answer_when_offline"
SUGGEST_DRAFTS = "suggest_drafts"
MODES = (ANSWER_WHEN_OFFLINE, SUGGEST_DRAFTS)

REPLY = "assistant.reply"
HANDOFF = "ai.handoff"
# Knowledge chunks given to the model at most.
CHUNKS = 4
DESCRIPTION_LENGTH = 5_000
URL_LENGTH = 500
MODEL_LENGTH = 200
KEY_LENGTH = 500

# Hand-off reasons.
NOTHING_RELEVANT = "nothing_relevant"
ASKED_FOR_PERSON = "asked_for_person"
TOKEN_LIMIT = "token_limit"  # noqa: S105 (a hand-off reason)
PROVIDER_ERROR = "provider_error"
UNDELIVERABLE = "undeliverable"

# "Talk to a human" in the languages the widget speaks, lower case; whole words.
_PERSON_WORDS = (
    "human",
    "a person",
    "real person",
    "someone real",
    "agent",
    "operator",
    "representative",
    "mensch",
    "mitarbeiter",
    "menschen",
    "humain",
    "une personne",
    "conseiller",
    "humano",
    "una persona",
    "agente",
    "operatore",
    "umano",
    "medewerker",
    "een mens",
    "człowiek",
    "konsultant",
    "humana",
)
_PERSON = re.compile(r"(?<!\w)(" + "|".join(re.escape(w) for w in _PERSON_WORDS) + r")(?!\w)")


def asks_for_person(text: str) -> bool:
    return _PERSON.search(text.lower()) is not None


def month_of_now() -> str:
    return utcnow().strftime("%Y-%m")


# ------------------------------------------------------------------------------ settings


@dataclass(frozen=True, slots=True)
class View:
    """The settings as shown: the key never, only whether one is stored."""

    enabled: bool
    base_url: str
    model: str
    has_key: bool
    business_description: str
    mode: str
    similarity_floor: float
    monthly_token_limit: int | None
    tokens_this_month: int


async def _secret_key(session: AsyncSession, settings: Settings) -> str:
    return await workspaces.ensure_secret_key(session, settings.secret_key)


async def tokens_used(session: AsyncSession, workspace_id: str, month: str | None = None) -> int:
    row = await AssistantRepository(session).usage(workspace_id, month or month_of_now())
    return row.tokens if row is not None else 0


async def get_settings(session: AsyncSession, workspace_id: str) -> View:
    row = await AssistantRepository(session).settings(workspace_id)
    used = await tokens_used(session, workspace_id)
    if row is None:
        return View(False, "", "", False, "", ANSWER_WHEN_OFFLINE, 0.0, None, used)
    return View(
        row.enabled,
        row.base_url,
        row.model,
        bool(row.api_key),
        row.business_description,
        row.mode,
        row.similarity_floor,
        row.monthly_token_limit,
        used,
    )


def _check_url(value: str) -> str:
    value = value.strip()
    if value and not re.match(r"^https?://[^\s/]+", value):
        raise ValidationFailed(
            "base_url must be an http(s) URL such as https://host/v1", details={"field": "base_url"}
        )
    return value


async def update_settings(
    session: AsyncSession, principal: Principal, settings: Settings, changes: dict[str, Any]
) -> View:
    """Change what ``changes`` names; ``api_key`` is sealed, an empty one removes it. The
    assistant can be enabled only with a base URL and a model."""
    repo = AssistantRepository(session)
    row = await repo.settings(principal.workspace_id)
    if row is None:
        row = AssistantSettings(
            workspace_id=principal.workspace_id,
            enabled=False,
            base_url="",
            model="",
            api_key="",
            business_description="",
            mode=ANSWER_WHEN_OFFLINE,
            similarity_floor=0.0,
            monthly_token_limit=None,
            updated_at=utcnow(),
        )
        await repo.add(row)
    if "mode" in changes:
        if changes["mode"] not in MODES:
            raise ValidationFailed(
                f"mode must be one of {', '.join(MODES)}", details={"field": "mode"}
            )
        row.mode = changes["mode"]
    if "base_url" in changes:
        row.base_url = _check_url(changes["base_url"])
    if "model" in changes:
        row.model = changes["model"].strip()
    if "business_description" in changes:
        row.business_description = changes["business_description"]
    if "similarity_floor" in changes:
        row.similarity_floor = float(changes["similarity_floor"])
    if "monthly_token_limit" in changes:
        row.monthly_token_limit = changes["monthly_token_limit"]
    if "api_key" in changes:
        key = changes["api_key"]
        row.api_key = secrets.seal(await _secret_key(session, settings), key) if key else ""
    if "enabled" in changes:
        row.enabled = bool(changes["enabled"])
    if row.enabled and (not row.base_url or not row.model):
        raise ValidationFailed(
            "the assistant needs a base_url and a model to be enabled",
            details={"field": "enabled"},
        )
    row.updated_at = utcnow()
    await session.flush()
    return await get_settings(session, principal.workspace_id)


# -------------------------------------------------------------------------- conversations


async def _state(
    session: AsyncSession, workspace_id: str, conversation_id: str
) -> AssistantConversation:
    repo = AssistantRepository(session)
    state = await repo.conversation(workspace_id, conversation_id)
    if state is None:
        state = AssistantConversation(
            conversation_id=conversation_id,
            workspace_id=workspace_id,
            enabled=True,
            waiting_for_human=False,
            handoff_reason=None,
            updated_at=utcnow(),
        )
        await repo.add(state)
    return state


@dataclass(frozen=True, slots=True)
class ConversationState:
    conversation_id: str
    enabled: bool
    waiting_for_human: bool
    handoff_reason: str | None


async def conversation_state(
    session: AsyncSession, principal: Principal, conversation_id: str
) -> ConversationState:
    await inbox.get_conversation(session, principal, conversation_id)
    state = await AssistantRepository(session).conversation(principal.workspace_id, conversation_id)
    if state is None:
        return ConversationState(conversation_id, True, False, None)
    return ConversationState(
        conversation_id, state.enabled, state.waiting_for_human, state.handoff_reason
    )


async def set_conversation(
    session: AsyncSession, principal: Principal, conversation_id: str, *, enabled: bool
) -> ConversationState:
    """Switch the assistant on or off for one conversation; switching it on again ends a
    wait for a human."""
    await inbox.get_conversation(session, principal, conversation_id)
    state = await _state(session, principal.workspace_id, conversation_id)
    state.enabled = enabled
    if enabled:
        state.waiting_for_human = False
        state.handoff_reason = None
    state.updated_at = utcnow()
    await session.flush()
    return await conversation_state(session, principal, conversation_id)


async def drafts(
    session: AsyncSession, principal: Principal, conversation_id: str
) -> list[AssistantDraft]:
    await inbox.get_conversation(session, principal, conversation_id)
    return await AssistantRepository(session).drafts(principal.workspace_id, conversation_id)


def citations_of(draft: AssistantDraft) -> list[dict[str, str]]:
    found: list[dict[str, str]] = json.loads(draft.citations)
    return found


class DraftAlreadySent(Conflict):
    code = "draft_already_sent"


@dataclass(frozen=True, slots=True)
class SentDraft:
    draft: AssistantDraft
    message: Message


async def send_draft(
    session: AsyncSession,
    principal: Principal,
    conversation_id: str,
    draft_id: str,
    *,
    text: str | None = None,
) -> SentDraft:
    """Post a draft (or ``text``, the operator's edit of it) as the caller's operator message,
    once: the draft is marked used in the same statement that checks it is not, so two sends
    at once post one message and the other gets DraftAlreadySent. Audited as
    ``assistant.draft_sent``."""
    await inbox.get_conversation(session, principal, conversation_id)
    repo = AssistantRepository(session)
    draft = await repo.draft(principal.workspace_id, conversation_id, draft_id)
    if draft is None:
        raise NotFound(f"no draft {draft_id[:64]} in this conversation", resource="draft")
    if draft.used_at is not None or not await repo.mark_used(principal.workspace_id, draft.id):
        raise DraftAlreadySent(
            f"draft {draft.id} was sent already",
            details={"draft_id": draft.id, "message_id": draft.sent_message_id},
        )
    message = await inbox_messages.post_message(
        session, principal, conversation_id, text=draft.text if text is None else text
    )
    draft.used_at = message.created_at
    draft.sent_message_id = message.id
    await session.flush()
    await audit.record_many(
        session,
        principal.workspace_id,
        principal.actor,
        [
            audit.Entry(
                "assistant.draft_sent",
                "draft",
                draft.id,
                {"message_id": (None, message.id)}
                | ({"edited": (False, True)} if text is not None and text != draft.text else {}),
            )
        ],
    )
    return SentDraft(draft, message)


# ------------------------------------------------------------------------------ replying


async def _queue_reply(session: AsyncSession, conversation: Conversation, message: Message) -> None:
    """In the transaction that adds a contact's message: queue the reply job when the
    workspace's assistant is on (it runs after the commit)."""
    row = await AssistantRepository(session).settings(conversation.workspace_id)
    if row is None or not row.enabled:
        return
    await jobs.enqueue(
        session,
        REPLY,
        {"conversation_id": conversation.id, "message_id": message.id},
        workspace_id=conversation.workspace_id,
    )


inbox_messages.on_contact_message(_queue_reply)


async def _operator_replied(
    session: AsyncSession, conversation: Conversation, message: Message
) -> None:
    """An operator's reply, by any path, ends the conversation's wait for a human (the
    assistant stays switched as it was)."""
    state = await AssistantRepository(session).conversation(
        conversation.workspace_id, conversation.id
    )
    if state is not None and state.waiting_for_human:
        state.waiting_for_human = False
        state.handoff_reason = None
        state.updated_at = message.created_at
        await session.flush()


inbox_messages.on_operator_message(_operator_replied)


@dataclass(frozen=True, slots=True)
class Plan:
    """What the reply job asks the model, decided in a first transaction."""

    base_url: str
    model: str
    key: str
    mode: str
    messages: list[dict[str, str]]
    citations: list[dict[str, str]]


async def handoff(
    session: AsyncSession, workspace_id: str, conversation_id: str, reason: str
) -> None:
    """No AI message: the conversation waits for a human, and ``ai.handoff`` tells the
    people on shift (through the workspace's webhooks)."""
    state = await _state(session, workspace_id, conversation_id)
    state.waiting_for_human = True
    state.handoff_reason = reason
    state.updated_at = utcnow()
    contact_id = None
    conversation = await _conversation_row(session, workspace_id, conversation_id)
    if conversation is not None:
        contact_id = conversation.contact_id
    await webhooks.emit(
        session,
        workspace_id,
        HANDOFF,
        {
            "conversation_id": conversation_id,
            "contact_id": contact_id,
            "reason": reason,
            "online": await people.anyone_online(session, workspace_id),
            "handed_off_at": iso_millis(state.updated_at),
        },
    )
    await session.flush()


async def _conversation_row(
    session: AsyncSession, workspace_id: str, conversation_id: str
) -> Conversation | None:
    workspace = await workspaces.get(session, workspace_id)
    try:
        return await inbox.get_conversation(session, _principal(workspace), conversation_id)
    except NotFound:
        return None


def _principal(workspace: Any) -> Principal:
    return Principal(workspace=workspace, key_id="", role=Role.INTEGRATION)


def _system_prompt(description: str, found: Sequence[knowledge.Found]) -> str:
    parts = [
        description.strip() or "You answer the questions of a business's website visitors.",
        "",
        "Answer only from the knowledge below. Cite each chunk you use by its id, in the "
        "square brackets it is given in. If the knowledge does not answer the question, say so "
        "and that a person will follow up.",
        "",
        "Knowledge:",
    ]
    for item in found:
        parts.append(
            f"[{item.chunk.id}] (article {item.chunk.article_id}: {item.title})\n{item.chunk.text}"
        )
    return "\n".join(parts)


async def answers_when_offline(session: AsyncSession, workspace_id: str) -> bool:
    """Whether the AI agent takes the visitors' messages while nobody is online (so the
    widget offers a chat, not the offline form)."""
    row = await AssistantRepository(session).settings(workspace_id)
    return row is not None and row.enabled and row.mode == ANSWER_WHEN_OFFLINE


async def plan(
    session: AsyncSession,
    settings: Settings,
    workspace_id: str,
    conversation_id: str,
    message_id: str,
    http: httpx.AsyncClient | None = None,
) -> Plan | None:
    """What to ask the model about the contact's message, or None when there is nothing to
    do (off, switched off for the conversation, an operator online in answer mode) or after
    a hand-off."""
    repo = AssistantRepository(session)
    row = await repo.settings(workspace_id)
    if row is None or not row.enabled:
        return None
    state = await repo.conversation(workspace_id, conversation_id)
    if state is not None and (not state.enabled or state.waiting_for_human):
        return None
    try:
        message = await inbox_messages.get_message(session, workspace_id, message_id)
    except NotFound:
        return None
    if message.conversation_id != conversation_id:
        return None
    if row.mode == ANSWER_WHEN_OFFLINE and await people.anyone_online(session, workspace_id):
        return None
    if asks_for_person(message.text):
        await handoff(session, workspace_id, conversation_id, ASKED_FOR_PERSON)
        return None
    limit = row.monthly_token_limit
    if limit is not None and await tokens_used(session, workspace_id) >= limit:
        await handoff(session, workspace_id, conversation_id, TOKEN_LIMIT)
        return None
    try:
        found = await knowledge.search(
            session,
            workspace_id,
            message.text[: knowledge.QUERY_LENGTH],
            limit=CHUNKS,
            provider=await knowledge.provider_for(session, settings, workspace_id),
            http=http,
        )
    except ValidationFailed:
        found = []
    relevant = [item for item in found if item.score > row.similarity_floor]
    if not relevant:
        await handoff(session, workspace_id, conversation_id, NOTHING_RELEVANT)
        return None
    key = secrets.unseal(await _secret_key(session, settings), row.api_key)
    return Plan(
        base_url=row.base_url,
        model=row.model,
        key=key,
        mode=row.mode,
        messages=[
            {"role": "system", "content": _system_prompt(row.business_description, relevant)},
            {"role": "user", "content": message.text},
        ],
        citations=[
            {"chunk_id": item.chunk.id, "article_id": item.chunk.article_id} for item in relevant
        ],
    )


async def _count_tokens(session: AsyncSession, workspace_id: str, tokens: int) -> None:
    repo = AssistantRepository(session)
    month = month_of_now()
    row = await repo.usage(workspace_id, month, lock=True)
    if row is None:
        await repo.add(AssistantUsage(workspace_id=workspace_id, month=month, tokens=tokens))
    else:
        row.tokens += tokens
        await session.flush()


def _with_sources(text: str, citations: Sequence[dict[str, str]]) -> str:
    sources = ", ".join(f"{c['article_id']}#{c['chunk_id']}" for c in citations)
    return f"{text}\n\nSources: {sources}"


async def deliver(
    session: AsyncSession,
    workspace_id: str,
    conversation_id: str,
    message_id: str,
    planned: Plan,
    completion: chat.Completion,
) -> None:
    """The model's answer, posted as ``ai`` or kept as a draft."""
    cited = [c for c in planned.citations if c["chunk_id"] in completion.text] or planned.citations
    if planned.mode == SUGGEST_DRAFTS:
        await AssistantRepository(session).add(
            AssistantDraft(
                id=new_id("drf"),
                workspace_id=workspace_id,
                conversation_id=conversation_id,
                message_id=message_id,
                text=completion.text,
                citations=json.dumps(cited),
                created_at=utcnow(),
            )
        )
        return
    workspace = await workspaces.get(session, workspace_id)
    text = _with_sources(completion.text, cited)[: inbox_rules.TEXT_LENGTH]
    await inbox_messages.post_message(
        session, _principal(workspace), conversation_id, text=text, author="ai"
    )


async def reply(
    db: Any, settings: Settings, http: httpx.AsyncClient, workspace_id: str, payload: dict[str, Any]
) -> None:
    """The reply job's work, in two transactions around the provider's call."""
    conversation_id = str(payload["conversation_id"])
    message_id = str(payload["message_id"])
    async with db.transaction() as session:
        planned = await plan(session, settings, workspace_id, conversation_id, message_id, http)
    if planned is None:
        return
    try:
        completion = await chat.complete(
            http, planned.base_url, planned.model, planned.key, planned.messages
        )
    except chat.ProviderFailed:
        async with db.transaction() as session:
            await handoff(session, workspace_id, conversation_id, PROVIDER_ERROR)
        return
    # Spent whatever becomes of the answer.
    async with db.transaction() as session:
        await _count_tokens(session, workspace_id, completion.tokens)
    try:
        async with db.transaction() as session:
            await deliver(session, workspace_id, conversation_id, message_id, planned, completion)
    except LeadlineError:
        # The conversation changed meanwhile (closed, gone): a person takes it from here.
        async with db.transaction() as session:
            if await _conversation_row(session, workspace_id, conversation_id) is not None:
                await handoff(session, workspace_id, conversation_id, UNDELIVERABLE)
