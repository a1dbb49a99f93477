"""The knowledge base: articles, their chunks, and the search over the chunks

SQLite gets an FTS5 table over the chunks' text (porter stemming over unicode61 words, so
"refunds" finds "refund"), keyed by ``knowledge_chunks.seq`` and kept in step by triggers, as
the leads' search table is (revision 2d77c8b491cf); search ranks with its ``bm25()``.
PostgreSQL gets a GIN index over ``to_tsvector('english', text)``; search ranks with
``ts_rank_cd`` over the same expression, and leaves ``seq`` NULL.

Revision ID: 6b2e9d4f1a8c
Revises: f3c9a7d2b8e4
Create Date: 2026-12-07 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadline.models.base

revision: str = "6b2e9d4f1a8c"
down_revision: str | None = "f3c9a7d2b8e4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = leadline.models.base.UTCDateTime(timezone=True)
_PRESENT = sa.text("seq IS NOT NULL")

_CREATE_TABLE = """
    CREATE VIRTUAL TABLE knowledge_search USING fts5(
        text, content='knowledge_chunks', content_rowid='seq', tokenize='porter unicode61'
    )"""

# Chunks are written and deleted, never edited in place but for their embedding; the update
# trigger still re-indexes a row whose text or seq changes, whatever path wrote it.
_TRIGGERS = {
    "knowledge_search_insert": """
        CREATE TRIGGER knowledge_search_insert AFTER INSERT ON knowledge_chunks BEGIN
            UPDATE knowledge_chunks
               SET seq = coalesce(
                   (SELECT max(seq) FROM knowledge_chunks WHERE seq IS NOT NULL), 0) + 1
             WHERE rowid = new.rowid AND new.seq IS NULL;
            INSERT INTO knowledge_search (rowid, text)
            SELECT new.seq, new.text WHERE new.seq IS NOT NULL;
        END""",
    "knowledge_search_update": """
        CREATE TRIGGER knowledge_search_update
        AFTER UPDATE OF seq, text ON knowledge_chunks
        WHEN old.seq IS NOT new.seq OR old.text IS NOT new.text
        BEGIN
            INSERT INTO knowledge_search (knowledge_search, rowid, text)
            SELECT 'delete', old.seq, old.text WHERE old.seq IS NOT NULL;
            INSERT INTO knowledge_search (rowid, text)
            SELECT new.seq, new.text WHERE new.seq IS NOT NULL;
        END""",
    "knowledge_search_delete": """
        CREATE TRIGGER knowledge_search_delete AFTER DELETE ON knowledge_chunks BEGIN
            INSERT INTO knowledge_search (knowledge_search, rowid, text)
            SELECT 'delete', old.seq, old.text WHERE old.seq IS NOT NULL;
        END""",
}


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    op.create_table(
        "knowledge_articles",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_knowledge_articles_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_articles")),
    )
    op.create_index(
        "ix_knowledge_articles_workspace_updated",
        "knowledge_articles",
        ["workspace_id", "updated_at", "id"],
        unique=False,
    )
    op.create_table(
        "knowledge_chunks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("article_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedding", sa.Text(), nullable=True),
        sa.Column("embedding_model", sa.String(length=200), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["knowledge_articles.id"],
            name=op.f("fk_knowledge_chunks_article_id_knowledge_articles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_knowledge_chunks_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_chunks")),
    )
    op.create_index(
        "uq_knowledge_chunks_article_position",
        "knowledge_chunks",
        ["article_id", "position"],
        unique=True,
    )
    op.create_index("ix_knowledge_chunks_workspace", "knowledge_chunks", ["workspace_id"])
    op.create_index(
        "uq_knowledge_chunks_seq",
        "knowledge_chunks",
        ["seq"],
        unique=True,
        sqlite_where=_PRESENT,
        postgresql_where=_PRESENT,
    )
    if _sqlite():
        op.execute(_CREATE_TABLE)
        for trigger in _TRIGGERS.values():
            op.execute(trigger)
    else:
        op.execute(
            "CREATE INDEX ix_knowledge_chunks_search ON knowledge_chunks "
            "USING gin (to_tsvector('english', text))"
        )


def downgrade() -> None:
    if _sqlite():
        for name in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS knowledge_search")
    else:
        op.execute("DROP INDEX IF EXISTS ix_knowledge_chunks_search")
    op.drop_table("knowledge_chunks")
    op.drop_index("ix_knowledge_articles_workspace_updated", table_name="knowledge_articles")
    op.drop_table("knowledge_articles")
