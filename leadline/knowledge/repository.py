"""Every SQL statement for knowledge articles, their chunks and the search over them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, delete, func, literal_column, select, tuple_, update
from sqlalchemy.sql import column, table
from sqlalchemy.sql.expression import ColumnClause

from leadline.db import Repository
from leadline.models import (
    KNOWLEDGE_SEARCH_TABLE,
    KNOWLEDGE_TEXT_CONFIG,
    KnowledgeArticle,
    KnowledgeChunk,
    KnowledgeSettings,
)

_SEARCH_ROWS = table(KNOWLEDGE_SEARCH_TABLE, column("rowid", BigInteger))
_CONFIG: ColumnClause[str] = literal_column(f"'{KNOWLEDGE_TEXT_CONFIG}'")


@dataclass(frozen=True, slots=True)
class Hit:
    chunk: KnowledgeChunk
    title: str
    score: float


class KnowledgeRepository(Repository):
    @property
    def _sqlite(self) -> bool:
        return self.session.get_bind().dialect.name == "sqlite"

    async def add(self, *rows: object) -> None:
        self.session.add_all(rows)
        await self.session.flush()

    # ----------------------------------------------------------------------------- settings

    async def settings(self, workspace_id: str) -> KnowledgeSettings | None:
        return await self.session.get(KnowledgeSettings, workspace_id)

    async def article_ids(self, workspace_id: str) -> list[str]:
        """Every article of the workspace that has chunks, oldest id first."""
        result = await self.session.scalars(
            select(KnowledgeChunk.article_id)
            .where(KnowledgeChunk.workspace_id == workspace_id)
            .distinct()
            .order_by(KnowledgeChunk.article_id)
        )
        return list(result)

    async def embedded_count(self, workspace_id: str, model: str) -> tuple[int, int]:
        """The workspace's chunks with a vector from ``model``, and all its chunks."""
        done = func.count().filter(
            KnowledgeChunk.embedding_model == model, KnowledgeChunk.embedding.is_not(None)
        )
        row = (
            await self.session.execute(
                select(done, func.count()).where(KnowledgeChunk.workspace_id == workspace_id)
            )
        ).one()
        return int(row[0]), int(row[1])

    # ----------------------------------------------------------------------------- articles

    async def article(self, workspace_id: str, article_id: str) -> KnowledgeArticle | None:
        found: KnowledgeArticle | None = await self.session.scalar(
            select(KnowledgeArticle).where(
                KnowledgeArticle.workspace_id == workspace_id, KnowledgeArticle.id == article_id
            )
        )
        return found

    async def articles(
        self,
        workspace_id: str,
        *,
        published: bool | None,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[KnowledgeArticle]:
        """Most recently changed first."""
        query = select(KnowledgeArticle).where(KnowledgeArticle.workspace_id == workspace_id)
        if published is not None:
            query = query.where(KnowledgeArticle.published.is_(published))
        if after is not None:
            query = query.where(
                tuple_(KnowledgeArticle.updated_at, KnowledgeArticle.id) < tuple_(*after)
            )
        query = query.order_by(
            KnowledgeArticle.updated_at.desc(), KnowledgeArticle.id.desc()
        ).limit(limit)
        return list(await self.session.scalars(query))

    async def delete_article(self, workspace_id: str, article_id: str) -> None:
        # The chunks first, explicitly: their delete trigger takes them out of the search table.
        await self.delete_chunks(workspace_id, article_id)
        await self.session.execute(
            delete(KnowledgeArticle).where(
                KnowledgeArticle.workspace_id == workspace_id, KnowledgeArticle.id == article_id
            )
        )

    # ------------------------------------------------------------------------------- chunks

    async def chunks(self, workspace_id: str, article_id: str) -> list[KnowledgeChunk]:
        result = await self.session.scalars(
            select(KnowledgeChunk)
            .where(
                KnowledgeChunk.workspace_id == workspace_id,
                KnowledgeChunk.article_id == article_id,
            )
            .order_by(KnowledgeChunk.position)
        )
        return list(result)

    async def delete_chunks(self, workspace_id: str, article_id: str) -> None:
        await self.session.execute(
            delete(KnowledgeChunk).where(
                KnowledgeChunk.workspace_id == workspace_id,
                KnowledgeChunk.article_id == article_id,
            )
        )

    async def set_embedding(
        self, workspace_id: str, chunk_id: str, text: str, embedding: str, model: str
    ) -> int:
        """Store a chunk's vector, if the chunk still holds the text it was made from."""
        result = await self.session.execute(
            update(KnowledgeChunk)
            .where(
                KnowledgeChunk.workspace_id == workspace_id,
                KnowledgeChunk.id == chunk_id,
                KnowledgeChunk.text == text,
            )
            .values(embedding=embedding, embedding_model=model)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # ------------------------------------------------------------------------------- search

    async def lexical(self, workspace_id: str, terms: list[str], limit: int) -> list[Hit]:
        """Chunks of published articles holding any of ``terms`` (plain words), best first:
        by FTS5's bm25() on SQLite, by ts_rank_cd on PostgreSQL. A higher score is better."""
        if not terms:
            return []
        published = (
            select(KnowledgeChunk, KnowledgeArticle.title)
            .join(KnowledgeArticle, KnowledgeArticle.id == KnowledgeChunk.article_id)
            .where(
                KnowledgeChunk.workspace_id == workspace_id,
                KnowledgeArticle.workspace_id == workspace_id,
                KnowledgeArticle.published.is_(True),
            )
        )
        if self._sqlite:
            expression = " OR ".join(f'"{term}"' for term in terms)
            rank = func.bm25(literal_column(KNOWLEDGE_SEARCH_TABLE))
            query = (
                published.add_columns((-rank).label("score"))
                .join(_SEARCH_ROWS, _SEARCH_ROWS.c.rowid == KnowledgeChunk.seq)
                .where(literal_column(KNOWLEDGE_SEARCH_TABLE).op("MATCH")(expression))
                .order_by(rank, KnowledgeChunk.id)
            )
        else:
            vector = func.to_tsvector(_CONFIG, KnowledgeChunk.text)
            wanted = func.to_tsquery(_CONFIG, " | ".join(terms))
            score = func.ts_rank_cd(vector, wanted)
            query = (
                published.add_columns(score.label("score"))
                .where(vector.op("@@")(wanted))
                .order_by(score.desc(), KnowledgeChunk.id)
            )
        rows = await self.session.execute(query.limit(limit))
        return [Hit(chunk, title, float(score)) for chunk, title, score in rows]

    async def embedded(self, workspace_id: str, model: str) -> list[tuple[KnowledgeChunk, str]]:
        """Chunks of published articles with a vector made by ``model``, with their titles."""
        rows = await self.session.execute(
            select(KnowledgeChunk, KnowledgeArticle.title)
            .join(KnowledgeArticle, KnowledgeArticle.id == KnowledgeChunk.article_id)
            .where(
                KnowledgeChunk.workspace_id == workspace_id,
                KnowledgeArticle.workspace_id == workspace_id,
                KnowledgeArticle.published.is_(True),
                KnowledgeChunk.embedding_model == model,
                KnowledgeChunk.embedding.is_not(None),
            )
        )
        return [(chunk, title) for chunk, title in rows]
