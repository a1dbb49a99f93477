"""The knowledge base's rules: articles, their chunks (remade on every save), and search.

Search is lexical (BM25) by default. With an embeddings provider configured (the workspace's
own, else the instance's Settings ``embeddings_url``/``embeddings_model``), each chunk's
vector is computed after commit by the
``knowledge.embed`` job, and search fuses the lexical ranking with the ranking by cosine
similarity to the query's vector (reciprocal rank fusion).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.auth.service import Principal
from leadline.config import Settings
from leadline.errors import NotFound, ValidationFailed
from leadline.jobs import service as jobs
from leadline.kit import cursors
from leadline.kit.ids import new_id
from leadline.kit.tags import check_tags, stored_tags
from leadline.kit.time import utcnow
from leadline.knowledge import secrets
from leadline.knowledge.chunking import chunk
from leadline.knowledge.embeddings import Provider, cosine, embed, embed_query, provider_of
from leadline.knowledge.repository import Hit, KnowledgeRepository
from leadline.models import KnowledgeArticle, KnowledgeChunk, KnowledgeSettings
from leadline.workspaces import service as workspaces

EMBED = "knowledge.embed"
REEMBED = "knowledge.reembed"

TITLE_LENGTH = 300
BODY_LENGTH = 200_000
QUERY_LENGTH = 500
# Words of a query that are looked up; the rest are ignored.
QUERY_TERMS = 32
SEARCH_LIMIT = 10
MAX_SEARCH_LIMIT = 50
# How many of each ranking fusion reads, and reciprocal rank fusion's constant.
CANDIDATES = 50
RRF_K = 60

_WORD = re.compile(r"[^\W_]+")


# ----------------------------------------------------------------------------- checking


def _check_text(value: str, field: str, length: int, *, empty: bool = False) -> str:
    if "\x00" in value:
        raise ValidationFailed(f"{field} must not contain NUL characters", details={"field": field})
    if not empty and not value.strip():
        raise ValidationFailed(f"{field} must not be empty", details={"field": field})
    if len(value) > length:
        raise ValidationFailed(f"{field} is at most {length} characters", details={"field": field})
    return value


def tags_of(article: KnowledgeArticle) -> list[str]:
    return stored_tags(article.tags)


def usable_id(value: str) -> bool:
    return 0 < len(value) <= 64 and "\x00" not in value


# ------------------------------------------------------------------------------ articles


@dataclass(frozen=True, slots=True)
class ArticlePage:
    articles: list[KnowledgeArticle]
    has_more: bool


async def get_article(
    session: AsyncSession, workspace_id: str, article_id: str
) -> KnowledgeArticle:
    found = (
        await KnowledgeRepository(session).article(workspace_id, article_id)
        if usable_id(article_id)
        else None
    )
    if found is None:
        raise NotFound(
            f"article '{article_id}' not found", details={"id": article_id}, resource="article"
        )
    return found


async def list_articles(
    session: AsyncSession,
    principal: Principal,
    *,
    published: bool | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> ArticlePage:
    rows = await KnowledgeRepository(session).articles(
        principal.workspace_id, published=published, limit=limit + 1, after=after
    )
    found, more = cursors.cut(rows, limit)
    return ArticlePage(found, more)


async def _rechunk(
    session: AsyncSession, article: KnowledgeArticle, provider: Provider | None
) -> None:
    """Replace the article's chunks with those of its body; queue their embeddings."""
    repo = KnowledgeRepository(session)
    await repo.delete_chunks(article.workspace_id, article.id)
    now = utcnow()
    pieces = chunk(article.body)
    await repo.add(
        *(
            KnowledgeChunk(
                id=new_id("kbc"),
                workspace_id=article.workspace_id,
                article_id=article.id,
                position=position,
                text=text,
                created_at=now,
            )
            for position, text in enumerate(pieces)
        )
    )
    if provider is not None and pieces:
        await jobs.enqueue(
            session, EMBED, {"article_id": article.id}, workspace_id=article.workspace_id
        )


async def create_article(
    session: AsyncSession,
    principal: Principal,
    *,
    title: str,
    body: str,
    tags: Sequence[str],
    published: bool,
    provider: Provider | None,
) -> KnowledgeArticle:
    now = utcnow()
    article = KnowledgeArticle(
        id=new_id("kb"),
        workspace_id=principal.workspace_id,
        title=_check_text(title, "title", TITLE_LENGTH).strip(),
        body=_check_text(body, "body", BODY_LENGTH, empty=True),
        tags=json.dumps(check_tags(tags)),
        published=published,
        created_at=now,
        updated_at=now,
    )
    await KnowledgeRepository(session).add(article)
    await _rechunk(session, article, provider)
    await audit.record(
        session,
        principal.workspace_id,
        principal.actor,
        "knowledge.article_created",
        "article",
        article.id,
    )
    return article


async def update_article(
    session: AsyncSession,
    principal: Principal,
    article_id: str,
    *,
    title: str | None = None,
    body: str | None = None,
    tags: Sequence[str] | None = None,
    published: bool | None = None,
    provider: Provider | None,
) -> KnowledgeArticle:
    """Change the fields given; a new body is chunked again."""
    article = await get_article(session, principal.workspace_id, article_id)
    # What the audit log records: each field before and after (the body by its length).
    changes: dict[str, tuple[object, object]] = {}
    if title is not None and title.strip() != article.title:
        new_title = _check_text(title, "title", TITLE_LENGTH).strip()
        changes["title"] = (article.title, new_title)
        article.title = new_title
    if tags is not None:
        kept = check_tags(tags)
        if kept != tags_of(article):
            changes["tags"] = (tags_of(article), kept)
            article.tags = json.dumps(kept)
    if published is not None and published != article.published:
        changes["published"] = (article.published, published)
        article.published = published
    if body is not None and body != article.body:
        # The body's length in characters, before and after.
        changes["body"] = (
            len(article.body),
            len(_check_text(body, "body", BODY_LENGTH, empty=True)),
        )
        article.body = body
    if not changes:
        return article
    article.updated_at = utcnow()
    await session.flush()
    if "body" in changes:
        await _rechunk(session, article, provider)
    await audit.record(
        session,
        principal.workspace_id,
        principal.actor,
        "knowledge.article_updated",
        "article",
        article.id,
        changes,
    )
    return article


async def delete_article(session: AsyncSession, principal: Principal, article_id: str) -> None:
    article = await get_article(session, principal.workspace_id, article_id)
    await KnowledgeRepository(session).delete_article(principal.workspace_id, article.id)
    await audit.record(
        session,
        principal.workspace_id,
        principal.actor,
        "knowledge.article_deleted",
        "article",
        article.id,
    )


async def chunks_of(
    session: AsyncSession, principal: Principal, article_id: str
) -> list[KnowledgeChunk]:
    article = await get_article(session, principal.workspace_id, article_id)
    return await KnowledgeRepository(session).chunks(principal.workspace_id, article.id)


# ------------------------------------------------------------------------------- search


@dataclass(frozen=True, slots=True)
class Found:
    chunk: KnowledgeChunk
    title: str
    score: float


def terms_of(query: str) -> list[str]:
    """The words of a query, lower case, each once, at most QUERY_TERMS."""
    terms: list[str] = []
    for word in _WORD.findall(query.lower()):
        if word not in terms:
            terms.append(word)
    return terms[:QUERY_TERMS]


def check_query(query: str) -> str:
    return _check_text(query, "q", QUERY_LENGTH)


def fuse(rankings: Sequence[Sequence[Hit]], limit: int) -> list[Found]:
    """Reciprocal rank fusion: each chunk scores the sum of 1 / (RRF_K + rank) over the
    rankings it is in (rank from 1); ties go to the earlier chunk id."""
    scores: dict[str, float] = {}
    hits: dict[str, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.chunk.id] = scores.get(hit.chunk.id, 0.0) + 1.0 / (RRF_K + rank)
            hits.setdefault(hit.chunk.id, hit)
    best = sorted(scores, key=lambda chunk_id: (-scores[chunk_id], chunk_id))[:limit]
    return [Found(hits[i].chunk, hits[i].title, scores[i]) for i in best]


async def search(
    session: AsyncSession,
    workspace_id: str,
    query: str,
    *,
    limit: int = SEARCH_LIMIT,
    provider: Provider | None = None,
    http: httpx.AsyncClient | None = None,
) -> list[Found]:
    """The chunks of the workspace's published articles that best answer ``query``."""
    repo = KnowledgeRepository(session)
    terms = terms_of(check_query(query))
    if provider is None or http is None:
        hits = await repo.lexical(workspace_id, terms, limit)
        return [Found(hit.chunk, hit.title, hit.score) for hit in hits]
    lexical = await repo.lexical(workspace_id, terms, CANDIDATES)
    wanted = await embed_query(http, provider, query)
    if wanted is None:
        return [Found(hit.chunk, hit.title, hit.score) for hit in lexical[:limit]]
    similar = [
        Hit(chunk, title, cosine(wanted, json.loads(chunk.embedding or "[]")))
        for chunk, title in await repo.embedded(workspace_id, provider.model)
    ]
    similar.sort(key=lambda hit: (-hit.score, hit.chunk.id))
    return fuse([lexical, similar[:CANDIDATES]], limit)


# ---------------------------------------------------------------------------- embeddings


async def embed_article(
    session: AsyncSession,
    workspace_id: str,
    article_id: str,
    provider: Provider,
    http: httpx.AsyncClient,
) -> int:
    """Compute and store the vectors of the article's chunks that lack one from the
    provider's model; how many were stored. A chunk remade meanwhile keeps none (the job its
    edit queued computes it)."""
    repo = KnowledgeRepository(session)
    missing = [
        found
        for found in await repo.chunks(workspace_id, article_id)
        if found.embedding is None or found.embedding_model != provider.model
    ]
    if not missing:
        return 0
    vectors = await embed(http, provider, [found.text for found in missing])
    stored = 0
    for found, vector in zip(missing, vectors, strict=True):
        stored += await repo.set_embedding(
            workspace_id, found.id, found.text, json.dumps(vector), provider.model
        )
    return stored


# ------------------------------------------------------------------ the workspace's provider

URL_LENGTH = 500
MODEL_LENGTH = 200
KEY_LENGTH = 500
# The re-embedding job's states.
IDLE, QUEUED, RUNNING, DONE, FAILED = "idle", "queued", "running", "done", "failed"
ERROR_LENGTH = 500


async def _secret_key(session: AsyncSession, settings: Settings) -> str:
    return await workspaces.ensure_secret_key(session, settings.secret_key)


async def provider_for(
    session: AsyncSession, settings: Settings, workspace_id: str
) -> Provider | None:
    """The embeddings provider of the workspace: its own when it set one (a URL and a model),
    else the instance's, else None (lexical search only)."""
    row = await KnowledgeRepository(session).settings(workspace_id)
    if row is None or not row.embeddings_url or not row.embeddings_model:
        return provider_of(settings)
    key = (
        secrets.unseal(await _secret_key(session, settings), row.embeddings_key)
        if row.embeddings_key
        else ""
    )
    return Provider(row.embeddings_url, row.embeddings_model, key or None)


@dataclass(frozen=True, slots=True)
class EmbeddingsView:
    """The workspace's embeddings settings as shown: the key never, only whether one is
    stored; ``source`` says whose provider search uses (workspace, instance or none)."""

    source: str
    base_url: str
    model: str
    has_key: bool
    reembed_state: str
    reembed_done: int
    reembed_total: int
    reembed_error: str | None


async def embeddings_settings(
    session: AsyncSession, settings: Settings, workspace_id: str
) -> EmbeddingsView:
    row = await KnowledgeRepository(session).settings(workspace_id)
    own = row is not None and bool(row.embeddings_url and row.embeddings_model)
    instance = provider_of(settings)
    source = "workspace" if own else "instance" if instance is not None else "none"
    if row is None:
        row = KnowledgeSettings(
            embeddings_url="",
            embeddings_model="",
            embeddings_key="",
            reembed_state=IDLE,
            reembed_done=0,
            reembed_total=0,
            reembed_error=None,
        )
    return EmbeddingsView(
        source=source,
        base_url=row.embeddings_url,
        # The instance's model is shown (search's vectors come from it); its URL and key are not.
        model=row.embeddings_model if own else instance.model if instance is not None else "",
        has_key=bool(row.embeddings_key),
        reembed_state=row.reembed_state,
        reembed_done=row.reembed_done,
        reembed_total=row.reembed_total,
        reembed_error=row.reembed_error,
    )


def _check_url(value: str) -> str:
    value = value.strip()
    if value and not re.match(r"^https?://[^\s/]+", value):
        raise ValidationFailed(
            "embeddings.base_url must be an http(s) URL such as https://host/v1",
            details={"field": "embeddings.base_url"},
        )
    return value


async def update_embeddings(
    session: AsyncSession, principal: Principal, settings: Settings, changes: dict[str, str]
) -> EmbeddingsView:
    """Change the workspace's own provider (``base_url``, ``model``, ``api_key``; empty
    strings remove them: search then uses the instance's). When the model search uses
    changes, a ``knowledge.reembed`` job recomputes every chunk's vector after the commit;
    its progress shows in the settings. Audited as ``knowledge.embeddings_updated``."""
    workspace_id = principal.workspace_id
    repo = KnowledgeRepository(session)
    before = await provider_for(session, settings, workspace_id)
    row = await repo.settings(workspace_id)
    if row is None:
        row = KnowledgeSettings(
            workspace_id=workspace_id,
            embeddings_url="",
            embeddings_model="",
            embeddings_key="",
            reembed_state=IDLE,
            reembed_done=0,
            reembed_total=0,
            reembed_error=None,
            updated_at=utcnow(),
        )
        await repo.add(row)
    old = {"base_url": row.embeddings_url, "model": row.embeddings_model}
    had_key = bool(row.embeddings_key)
    if "base_url" in changes:
        row.embeddings_url = _check_url(changes["base_url"])
    if "model" in changes:
        row.embeddings_model = changes["model"].strip()
    if "api_key" in changes:
        key = changes["api_key"]
        row.embeddings_key = secrets.seal(await _secret_key(session, settings), key) if key else ""
    if bool(row.embeddings_url) != bool(row.embeddings_model):
        raise ValidationFailed(
            "a workspace's embeddings provider needs both base_url and model (or neither, to"
            " use the instance's)",
            details={"field": "embeddings.model" if row.embeddings_url else "embeddings.base_url"},
        )
    row.updated_at = utcnow()
    await session.flush()
    after = await provider_for(session, settings, workspace_id)
    if after is not None and (before is None or before.model != after.model):
        done, total = await repo.embedded_count(workspace_id, after.model)
        row.reembed_state, row.reembed_done, row.reembed_total = QUEUED, done, total
        row.reembed_error = None
        await jobs.enqueue(session, REEMBED, {"model": after.model}, workspace_id=workspace_id)
        await session.flush()
    elif after is None:
        # Lexical search only: nothing to embed, nothing under way.
        row.reembed_state, row.reembed_done, row.reembed_total = IDLE, 0, 0
        row.reembed_error = None
        await session.flush()
    new = {"base_url": row.embeddings_url, "model": row.embeddings_model}
    audited: dict[str, tuple[str | None, str | None]] = {
        name: (old[name], new[name]) for name in new if old[name] != new[name]
    }
    if "api_key" in changes and (had_key or bool(row.embeddings_key)):
        audited["api_key"] = (
            "[sealed]" if had_key else None,
            "[sealed]" if row.embeddings_key else None,
        )
    if audited:
        await audit.record_many(
            session,
            workspace_id,
            principal.actor,
            [audit.Entry("knowledge.embeddings_updated", "workspace", workspace_id, audited)],
        )
    return await embeddings_settings(session, settings, workspace_id)


async def reembed_articles(session: AsyncSession, workspace_id: str) -> list[str]:
    """The articles the re-embedding job goes through."""
    return await KnowledgeRepository(session).article_ids(workspace_id)


async def reembed_progress(
    session: AsyncSession,
    workspace_id: str,
    model: str,
    *,
    state: str,
    error: str | None = None,
) -> None:
    """Record where the re-embedding for ``model`` stands (counted from the chunks), unless
    a later change of model superseded it."""
    repo = KnowledgeRepository(session)
    row = await repo.settings(workspace_id)
    if row is None:
        return
    done, total = await repo.embedded_count(workspace_id, model)
    row.reembed_state = state
    row.reembed_done, row.reembed_total = done, total
    row.reembed_error = error[:ERROR_LENGTH] if error else None
    row.updated_at = utcnow()
    await session.flush()
