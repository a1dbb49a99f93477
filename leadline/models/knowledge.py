"""The knowledge base: articles written in Markdown and the chunks search looks in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base


class KnowledgeArticle(Base):
    """An article (``kb_...``). ``tags`` is a JSON list. Only published articles are searched."""

    __tablename__ = "knowledge_articles"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(Text, default="[]")
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_knowledge_articles_workspace_updated", "workspace_id", "updated_at", "id"),
    )


class KnowledgeChunk(Base):
    """One piece of an article (``kbc_...``), in ``position`` order; an edit replaces them all.
    ``embedding`` is a JSON list of floats once the embeddings job has run (with a provider
    configured), made by ``embedding_model``."""

    __tablename__ = "knowledge_chunks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    article_id: Mapped[str] = mapped_column(ForeignKey("knowledge_articles.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    embedding: Mapped[str | None] = mapped_column(Text, nullable=True)
    embedding_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # SQLite only: the chunk's row in the search table (KNOWLEDGE_SEARCH_TABLE), assigned by
    # the insert trigger of the migration.
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("uq_knowledge_chunks_article_position", "article_id", "position", unique=True),
        Index("ix_knowledge_chunks_workspace", "workspace_id"),
        Index(
            "uq_knowledge_chunks_seq",
            "seq",
            unique=True,
            sqlite_where=sql_text("seq IS NOT NULL"),
            postgresql_where=sql_text("seq IS NOT NULL"),
        ),
    )


# SQLite only: the FTS5 table (porter stemming) over the chunks' text, one row per chunk keyed
# by ``knowledge_chunks.seq`` and kept by triggers (see the migration). PostgreSQL searches a
# GIN index over ``to_tsvector('english', text)`` instead. Neither is a model.
KNOWLEDGE_SEARCH_TABLE = "knowledge_search"
KNOWLEDGE_SEARCH_INDEX = "ix_knowledge_chunks_search"
# The text search configuration of the PostgreSQL index; a query must name the same one.
KNOWLEDGE_TEXT_CONFIG = "english"
KNOWLEDGE_UNMODELLED_TABLES: frozenset[str] = frozenset(
    {
        KNOWLEDGE_SEARCH_TABLE,
        *(f"{KNOWLEDGE_SEARCH_TABLE}_{part}" for part in ("data", "idx", "docsize", "config")),
    }
)


class KnowledgeSettings(Base):
    """A workspace's own embeddings provider (else the instance's), and the state of the job
    that re-embeds its chunks when the model changes. ``embeddings_key`` is sealed under the
    instance's secret key for a purpose of its own, and never returned."""

    __tablename__ = "knowledge_settings"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    embeddings_url: Mapped[str] = mapped_column(String(500), default="")
    embeddings_model: Mapped[str] = mapped_column(String(200), default="")
    embeddings_key: Mapped[str] = mapped_column(Text, default="")
    # idle, queued, running, done or failed; chunks done of the total.
    reembed_state: Mapped[str] = mapped_column(String(20), default="idle")
    reembed_done: Mapped[int] = mapped_column(Integer, default=0)
    reembed_total: Mapped[int] = mapped_column(Integer, default=0)
    reembed_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
