"""``/knowledge``: the knowledge base's articles, their chunks, and search over them.

Admins (and owners) write articles (``knowledge:manage``); everyone who works the inbox
(``inbox``: agents too) reads them and searches.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import Response

from leadline.auth.roles import Permission
from leadline.http import path_id
from leadline.kit import cursors
from leadline.kit import tags as tag_rules
from leadline.kit.time import iso_millis
from leadline.knowledge import service as knowledge
from leadline.models import KnowledgeArticle, KnowledgeChunk
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.dependencies import (
    DEFAULT_LIMIT,
    After,
    AppSettings,
    Caller,
    Limit,
    Session,
)
from leadline.surfaces.leadiosa.envelope import data, json_response, omit_empty, page

router = APIRouter(tags=["knowledge"])

ArticleId = Annotated[str, Path(max_length=64, description="The article's id (`kb_...`).")]
Tag = Annotated[str, Field(min_length=1, max_length=tag_rules.TAG_LENGTH)]

# ----------------------------------------------------------------------------- schemas


class NewArticle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=knowledge.TITLE_LENGTH)
    body: str = Field(
        default="", max_length=knowledge.BODY_LENGTH, description="Markdown; split into chunks."
    )
    tags: list[Tag] = Field(default_factory=list, max_length=tag_rules.TAGS)
    published: StrictBool = Field(
        default=False, description="Only published articles are searched."
    )


class ArticlePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=knowledge.TITLE_LENGTH)
    body: str | None = Field(
        default=None,
        max_length=knowledge.BODY_LENGTH,
        description="A new body is chunked again (and embedded again, with a provider).",
    )
    tags: list[Tag] | None = Field(default=None, max_length=tag_rules.TAGS)
    published: StrictBool | None = None


class Article(BaseModel):
    id: str
    title: str
    body: str | SkipJsonSchema[None] = None
    tags: list[str] | SkipJsonSchema[None] = None
    published: bool
    created_at: datetime
    updated_at: datetime


class ArticleEnvelope(BaseModel):
    data: Article


class ArticleList(BaseModel):
    data: list[Article]
    pagination: s.Pagination


class Chunk(BaseModel):
    id: str
    article_id: str
    position: int = Field(description="0, 1, 2, ... in the article's order.")
    text: str
    embedded: bool = Field(description="Whether the chunk's embedding has been computed.")


class ChunkList(BaseModel):
    data: list[Chunk]
    pagination: s.Pagination


class SearchHit(BaseModel):
    article_id: str
    title: str
    chunk_id: str
    position: int
    text: str
    score: float = Field(
        description="Higher is better: BM25 (lexical), or the reciprocal rank fusion score "
        "(hybrid); comparable only within one answer."
    )


class SearchResults(BaseModel):
    data: list[SearchHit]
    mode: str = Field(description="`lexical`, or `hybrid` with an embeddings provider.")


class Deleted(BaseModel):
    id: str
    deleted: bool


class DeletedEnvelope(BaseModel):
    data: Deleted


# --------------------------------------------------------------------------- rendering


def render_article(article: KnowledgeArticle, *, body: bool = True) -> dict[str, Any]:
    return omit_empty(
        {
            "id": article.id,
            "title": article.title,
            "body": article.body if body else None,
            "tags": knowledge.tags_of(article),
            "published": article.published,
            "created_at": iso_millis(article.created_at),
            "updated_at": iso_millis(article.updated_at),
        }
    )


def render_chunk(found: KnowledgeChunk) -> dict[str, Any]:
    return {
        "id": found.id,
        "article_id": found.article_id,
        "position": found.position,
        "text": found.text,
        "embedded": found.embedding is not None,
    }


def _position(key: dict[str, Any]) -> tuple[datetime, str]:
    return cursors.timestamp(key["updated_at"]), cursors.identifier(key["id"])


def _key(article: KnowledgeArticle) -> dict[str, Any]:
    return {"updated_at": cursors.time_key(article.updated_at), "id": article.id}


# ------------------------------------------------------------------------------ routes

# An article, and not /knowledge/search beside it (which takes GET alone).
ARTICLE = "/knowledge/" + path_id("article_id", besides="search")


@router.get("/knowledge", response_model=ArticleList, responses=s.responses(400))
async def list_articles(
    session: Session,
    caller: Caller,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    published: Annotated[
        bool | None, Query(description="Only published (true) or draft (false) articles.")
    ] = None,
) -> Response:
    """The workspace's articles, most recently changed first (without their bodies)."""
    caller.require(Permission.INBOX)
    found = await knowledge.list_articles(
        session,
        caller,
        published=published,
        limit=limit,
        after=cursors.resume(after, _position),
    )
    listed = cursors.page(found.articles, has_more=found.has_more, key=_key)
    return page(listed, (render_article(item, body=False) for item in listed.items))


@router.post(
    "/knowledge", status_code=201, response_model=ArticleEnvelope, responses=s.responses(400, 413)
)
async def create_article(
    session: Session, caller: Caller, settings: AppSettings, body: NewArticle
) -> Response:
    """A new article; its body is split into chunks at once."""
    caller.require(Permission.KNOWLEDGE_MANAGE)
    article = await knowledge.create_article(
        session,
        caller,
        title=body.title,
        body=body.body,
        tags=body.tags,
        published=body.published,
        provider=await knowledge.provider_for(session, settings, caller.workspace_id),
    )
    return data(render_article(article), status_code=201)


@router.get("/knowledge/search", response_model=SearchResults, responses=s.responses(400))
async def search_knowledge(
    session: Session,
    caller: Caller,
    settings: AppSettings,
    q: Annotated[
        str,
        Query(min_length=1, max_length=knowledge.QUERY_LENGTH, description="What to look for."),
    ],
    limit: Annotated[
        int,
        Query(ge=1, le=knowledge.MAX_SEARCH_LIMIT, description="Chunks to return, 1-50."),
    ] = knowledge.SEARCH_LIMIT,
) -> Response:
    """The chunks of published articles that best answer `q`, best first."""
    caller.require(Permission.INBOX)
    provider = await knowledge.provider_for(session, settings, caller.workspace_id)
    if provider is None:
        found = await knowledge.search(session, caller.workspace_id, q, limit=limit)
    else:
        async with httpx.AsyncClient() as http:
            found = await knowledge.search(
                session, caller.workspace_id, q, limit=limit, provider=provider, http=http
            )
    return json_response(
        {
            "data": [
                {
                    "article_id": hit.chunk.article_id,
                    "title": hit.title,
                    "chunk_id": hit.chunk.id,
                    "position": hit.chunk.position,
                    "text": hit.chunk.text,
                    "score": round(hit.score, 6),
                }
                for hit in found
            ],
            "mode": "lexical" if provider is None else "hybrid",
        }
    )


@router.get(ARTICLE, response_model=ArticleEnvelope, responses=s.responses(400, 404))
async def get_article(session: Session, caller: Caller, article_id: ArticleId) -> Response:
    caller.require(Permission.INBOX)
    return data(
        render_article(await knowledge.get_article(session, caller.workspace_id, article_id))
    )


@router.patch(ARTICLE, response_model=ArticleEnvelope, responses=s.responses(400, 404, 413))
async def update_article(
    session: Session,
    caller: Caller,
    settings: AppSettings,
    article_id: ArticleId,
    body: ArticlePatch,
) -> Response:
    """Change the fields given; a changed body is chunked again."""
    caller.require(Permission.KNOWLEDGE_MANAGE)
    article = await knowledge.update_article(
        session,
        caller,
        article_id,
        title=body.title,
        body=body.body,
        tags=body.tags,
        published=body.published,
        provider=await knowledge.provider_for(session, settings, caller.workspace_id),
    )
    return data(render_article(article))


@router.delete(ARTICLE, response_model=DeletedEnvelope, responses=s.responses(400, 404))
async def delete_article(session: Session, caller: Caller, article_id: ArticleId) -> Response:
    """Delete an article and its chunks."""
    caller.require(Permission.KNOWLEDGE_MANAGE)
    await knowledge.delete_article(session, caller, article_id)
    return data({"id": article_id, "deleted": True})


@router.get(ARTICLE + "/chunks", response_model=ChunkList, responses=s.responses(400, 404))
async def list_chunks(
    session: Session,
    caller: Caller,
    article_id: ArticleId,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Response:
    """The article's chunks in order, as search sees them."""
    caller.require(Permission.INBOX)
    start = cursors.resume(after, lambda key: cursors.integer(key["position"]))
    found = [
        item
        for item in await knowledge.chunks_of(session, caller, article_id)
        if start is None or item.position > start
    ]
    items, more = cursors.cut(found, limit)
    listed = cursors.page(items, has_more=more, key=lambda item: {"position": item.position})
    return page(listed, (render_chunk(item) for item in listed.items))
