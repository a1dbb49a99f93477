"""``/assistant``: the AI assistant's settings (admins; the provider's key is written, never
read back), and per conversation its switch and the drafts it suggested to operators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import Response

from leadline.assistant import service as assistant
from leadline.auth.roles import Permission
from leadline.kit.time import iso_millis
from leadline.knowledge import service as knowledge
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.conversations import MessageOut, Text, render_message
from leadline.surfaces.leadiosa.dependencies import AppSettings, Caller, Session
from leadline.surfaces.leadiosa.envelope import data, omit_empty

router = APIRouter(tags=["assistant"])

ConversationId = Annotated[
    str, Path(max_length=64, description="The conversation's id (`conv_...`).")
]
DraftId = Annotated[str, Path(max_length=64, description="The draft's id (`drf_...`).")]
Mode = Literal["answer_when_offline", "suggest_drafts"]

# ----------------------------------------------------------------------------- schemas


class EmbeddingsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(
        default=None,
        max_length=knowledge.URL_LENGTH,
        description="An OpenAI-compatible API's base URL (`{base_url}/embeddings`); an empty"
        " string, with an empty model, goes back to the instance's provider.",
    )
    model: str | None = Field(
        default=None,
        max_length=knowledge.MODEL_LENGTH,
        description="Changing the model search uses re-embeds the knowledge base in a job.",
    )
    api_key: str | None = Field(
        default=None,
        max_length=knowledge.KEY_LENGTH,
        description="Stored encrypted and never returned; an empty string removes it.",
    )


class AssistantPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool | None = Field(
        default=None, description="Off by default; needs a base_url and a model."
    )
    base_url: str | None = Field(
        default=None,
        max_length=assistant.URL_LENGTH,
        description="An OpenAI-compatible API's base URL, ending in `/v1`.",
    )
    model: str | None = Field(default=None, max_length=assistant.MODEL_LENGTH)
    api_key: str | None = Field(
        default=None,
        max_length=assistant.KEY_LENGTH,
        description="Stored encrypted and never returned; an empty string removes it.",
    )
    business_description: str | None = Field(
        default=None,
        max_length=assistant.DESCRIPTION_LENGTH,
        description="What the business is and how to answer (the system prompt).",
    )
    mode: Mode | None = None
    similarity_floor: StrictInt | StrictFloat | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="Knowledge chunks scoring at or below it are not used.",
    )
    monthly_token_limit: StrictInt | None = Field(
        default=None, ge=0, le=2_000_000_000, description="Tokens per month; null for none."
    )
    embeddings: EmbeddingsPatch | None = Field(
        default=None,
        description="The workspace's own embeddings provider for knowledge search (else the"
        " instance's).",
    )


class Reembedding(BaseModel):
    state: Literal["idle", "queued", "running", "done", "failed"]
    done: int = Field(ge=0, description="Chunks with a vector from the current model.")
    total: int = Field(ge=0, description="All the workspace's chunks.")
    error: str | SkipJsonSchema[None] = Field(
        default=None, description="The provider's last failure, while it retries."
    )


class EmbeddingsSettings(BaseModel):
    source: Literal["workspace", "instance", "none"] = Field(
        description="Whose provider search uses: the workspace's own, the instance's"
        " (LEADLINE_EMBEDDINGS_*), or none (lexical search only)."
    )
    base_url: str | SkipJsonSchema[None] = Field(
        default=None, description="The workspace's own provider's URL."
    )
    model: str | SkipJsonSchema[None] = None
    has_api_key: bool = Field(description="Whether the workspace stored a key (never shown).")
    reembedding: Reembedding


class AssistantSettings(BaseModel):
    enabled: bool
    base_url: str | SkipJsonSchema[None] = None
    model: str | SkipJsonSchema[None] = None
    has_api_key: bool = Field(description="Whether a key is stored (the key is never shown).")
    business_description: str | SkipJsonSchema[None] = None
    mode: Mode
    similarity_floor: float
    monthly_token_limit: int | SkipJsonSchema[None] = None
    tokens_this_month: int = Field(ge=0)
    embeddings: EmbeddingsSettings


class AssistantEnvelope(BaseModel):
    data: AssistantSettings


class Toggle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool


class ConversationAssistant(BaseModel):
    conversation_id: str
    enabled: bool
    waiting_for_human: bool = Field(description="Handed off: the assistant stays quiet.")
    handoff_reason: str | SkipJsonSchema[None] = None


class ConversationAssistantEnvelope(BaseModel):
    data: ConversationAssistant


class Citation(BaseModel):
    chunk_id: str
    article_id: str


class Draft(BaseModel):
    id: str
    conversation_id: str
    message_id: str = Field(description="The contact's message it answers.")
    text: str
    citations: list[Citation]
    created_at: datetime
    used_at: datetime | SkipJsonSchema[None] = Field(
        default=None, description="When an operator sent it (absent: not sent)."
    )
    sent_message_id: str | SkipJsonSchema[None] = Field(
        default=None, description="The operator message it became."
    )


class DraftList(BaseModel):
    data: list[Draft]


class DraftSend(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text | None = Field(
        default=None, description="The operator's edit of the draft; the draft's text if left out."
    )


class SentDraftMessage(MessageOut):
    draft_id: str = Field(description="The draft this message was sent from.")


class SentDraftEnvelope(BaseModel):
    data: SentDraftMessage


# ---------------------------------------------------------------------------- rendering


def render_settings(view: assistant.View) -> dict[str, Any]:
    return omit_empty(
        {
            "enabled": view.enabled,
            "base_url": view.base_url,
            "model": view.model,
            "has_api_key": view.has_key,
            "business_description": view.business_description,
            "mode": view.mode,
            "similarity_floor": view.similarity_floor,
            "monthly_token_limit": view.monthly_token_limit,
            "tokens_this_month": view.tokens_this_month,
        }
    ) | {"enabled": view.enabled, "has_api_key": view.has_key}


def render_embeddings(view: knowledge.EmbeddingsView) -> dict[str, Any]:
    return omit_empty(
        {
            "source": view.source,
            "base_url": view.base_url,
            "model": view.model,
            "has_api_key": view.has_key,
            "reembedding": omit_empty(
                {
                    "state": view.reembed_state,
                    "done": view.reembed_done,
                    "total": view.reembed_total,
                    "error": view.reembed_error,
                }
            )
            | {"done": view.reembed_done, "total": view.reembed_total},
        }
    ) | {"has_api_key": view.has_key}


def render_state(state: assistant.ConversationState) -> dict[str, Any]:
    return omit_empty(
        {
            "conversation_id": state.conversation_id,
            "enabled": state.enabled,
            "waiting_for_human": state.waiting_for_human,
            "handoff_reason": state.handoff_reason,
        }
    ) | {"enabled": state.enabled, "waiting_for_human": state.waiting_for_human}


# ------------------------------------------------------------------------------- routes


@router.get("/assistant", response_model=AssistantEnvelope, responses=s.responses())
async def get_assistant(session: Session, caller: Caller, settings: AppSettings) -> Response:
    """The workspace's assistant settings, with its knowledge search's embeddings provider
    and the progress of re-embedding (keys are never returned)."""
    caller.require(Permission.KNOWLEDGE_MANAGE)
    view = await assistant.get_settings(session, caller.workspace_id)
    embeddings = await knowledge.embeddings_settings(session, settings, caller.workspace_id)
    return data(render_settings(view) | {"embeddings": render_embeddings(embeddings)})


@router.patch("/assistant", response_model=AssistantEnvelope, responses=s.responses(400, 422))
async def update_assistant(
    session: Session, caller: Caller, settings: AppSettings, body: AssistantPatch
) -> Response:
    """Change the settings the body names. `embeddings` sets the workspace's own provider for
    knowledge search; changing the model search uses starts a `knowledge.reembed` job."""
    caller.require(Permission.KNOWLEDGE_MANAGE)
    changes = body.model_dump(exclude_unset=True)
    provider = changes.pop("embeddings", None) or {}
    # null leaves a setting as it is, but for the token limit (null: no limit).
    for name in [name for name in changes if name != "monthly_token_limit"]:
        if changes[name] is None:
            del changes[name]
    view = await assistant.update_settings(session, caller, settings, changes)
    given = {name: value for name, value in provider.items() if value is not None}
    if given:
        embeddings = await knowledge.update_embeddings(session, caller, settings, given)
    else:
        embeddings = await knowledge.embeddings_settings(session, settings, caller.workspace_id)
    return data(render_settings(view) | {"embeddings": render_embeddings(embeddings)})


@router.post(
    "/conversations/{conversation_id}/assistant",
    response_model=ConversationAssistantEnvelope,
    responses=s.responses(400, 404),
)
async def toggle_conversation(
    session: Session, caller: Caller, conversation_id: ConversationId, body: Toggle
) -> Response:
    """Switch the assistant on or off for one conversation (on again ends a hand-off)."""
    caller.require(Permission.INBOX)
    state = await assistant.set_conversation(session, caller, conversation_id, enabled=body.enabled)
    return data(render_state(state))


@router.get(
    "/conversations/{conversation_id}/drafts",
    response_model=DraftList,
    responses=s.responses(400, 404),
)
async def list_drafts(
    session: Session, caller: Caller, conversation_id: ConversationId
) -> Response:
    """The replies the assistant suggested for the conversation (mode `suggest_drafts`),
    oldest first; none is sent until an operator posts it."""
    caller.require(Permission.INBOX)
    found = await assistant.drafts(session, caller, conversation_id)
    return data(
        [
            {
                "id": draft.id,
                "conversation_id": draft.conversation_id,
                "message_id": draft.message_id,
                "text": draft.text,
                "citations": assistant.citations_of(draft),
                "created_at": iso_millis(draft.created_at),
            }
            | omit_empty(
                {
                    "used_at": iso_millis(draft.used_at) if draft.used_at else None,
                    "sent_message_id": draft.sent_message_id,
                }
            )
            for draft in found
        ]
    )


@router.post(
    "/conversations/{conversation_id}/drafts/{draft_id}/send",
    status_code=201,
    response_model=SentDraftEnvelope,
    responses=s.responses(400, 404, 409),
)
async def send_draft(
    session: Session,
    caller: Caller,
    conversation_id: ConversationId,
    draft_id: DraftId,
    body: DraftSend | None = None,
) -> Response:
    """Send a draft as the caller's operator message (with `text`, the operator's edit of
    it). A draft is sent once: sending it again answers 409 `draft_already_sent`."""
    caller.require(Permission.INBOX)
    sent = await assistant.send_draft(
        session, caller, conversation_id, draft_id, text=body.text if body is not None else None
    )
    return data(render_message(sent.message) | {"draft_id": sent.draft.id}, status_code=201)
