"""``/tokens``: people's tokens, listed, created, revoked and rotated."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import Response

from leadline.auth.service import IssuedKey
from leadline.kit import cursors
from leadline.kit.time import iso_millis
from leadline.models import ApiKey
from leadline.people import tokens
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.dependencies import (
    DEFAULT_LIMIT,
    After,
    Caller,
    Limit,
    Session,
    plain_text,
)
from leadline.surfaces.leadiosa.envelope import data, omit_empty, page

router = APIRouter(tags=["tokens"])

TokenId = Annotated[str, Path(max_length=64, description="The token's id (`key_...`).")]

# ----------------------------------------------------------------------------- schemas


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None, max_length=200, description="A label to tell tokens apart."
    )
    person_id: str | None = Field(
        default=None,
        max_length=64,
        description="Whose token it is; the caller's own person when left out (an API key, "
        "which has none, must name one).",
    )


class Token(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    person_id: str
    status: Literal["active", "revoked"]
    token: str | SkipJsonSchema[None] = Field(
        default=None,
        description="The token itself: only in the answer that created or rotated it.",
    )
    created_at: datetime
    last_used_at: datetime | SkipJsonSchema[None] = None
    revoked_at: datetime | SkipJsonSchema[None] = None


class TokenEnvelope(BaseModel):
    data: Token


class TokenList(BaseModel):
    data: list[Token]
    pagination: s.Pagination


# ---------------------------------------------------------------------------- rendering


def _time(value: datetime | None) -> str | None:
    return iso_millis(value) if value is not None else None


def render_token(key: ApiKey, *, secret: str | None = None) -> dict[str, Any]:
    return omit_empty(
        {
            "id": key.id,
            "name": key.name,
            "prefix": key.prefix,
            "person_id": key.person_id,
            "status": "revoked" if key.revoked_at is not None else "active",
            "token": secret,
            "created_at": _time(key.created_at),
            "last_used_at": _time(key.last_used_at),
            "revoked_at": _time(key.revoked_at),
        }
    )


def _issued(issued: IssuedKey, status_code: int = 200) -> Response:
    return data(render_token(issued.key, secret=issued.token), status_code=status_code)


def _position(key: dict[str, Any]) -> tuple[datetime, str]:
    return cursors.timestamp(key["created_at"]), cursors.identifier(key["id"])


def _key(key: ApiKey) -> dict[str, Any]:
    return {"created_at": cursors.time_key(key.created_at), "id": key.id}


# ------------------------------------------------------------------------------- routes


@router.get("/tokens", response_model=TokenList, responses=s.responses(400))
async def list_tokens(
    session: Session,
    caller: Caller,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    person_id: Annotated[
        str | None, Query(max_length=64, description="Only this person's tokens.")
    ] = None,
) -> Response:
    """The workspace's people's tokens, revoked ones too, newest first. Never the secrets."""
    found = await tokens.list_tokens(
        session,
        caller,
        # An empty filter (``person_id=``) filters nothing.
        person_id=plain_text(person_id, "person_id") or None,
        limit=limit,
        after=cursors.resume(after, _position),
    )
    listed = cursors.page(found.tokens, has_more=found.has_more, key=_key)
    return page(listed, (render_token(key) for key in listed.items))


@router.post(
    "/tokens", status_code=201, response_model=TokenEnvelope, responses=s.responses(400, 404, 413)
)
async def create_token(session: Session, caller: Caller, body: NewToken) -> Response:
    """A new token acting as a person, with their role. The answer holds the token itself,
    which is never shown again."""
    created = await tokens.create(
        session,
        caller,
        person_id=plain_text(body.person_id, "person_id"),
        name=plain_text(body.name, "name"),
    )
    return _issued(created.issued, status_code=201)


@router.delete("/tokens/{token_id}", response_model=TokenEnvelope, responses=s.responses(404))
async def revoke_token(session: Session, caller: Caller, token_id: TokenId) -> Response:
    """Revoke a token: it is refused from the next request on. Answers the token, revoked;
    revoking it again changes nothing."""
    return data(render_token(await tokens.revoke(session, caller, token_id)))


@router.post(
    "/tokens/{token_id}/rotate", response_model=TokenEnvelope, responses=s.responses(404, 409)
)
async def rotate_token(session: Session, caller: Caller, token_id: TokenId) -> Response:
    """A new secret for the token, in this answer only; the old one is refused from the next
    request on. 409 for a revoked token."""
    return _issued(await tokens.rotate(session, caller, token_id))
