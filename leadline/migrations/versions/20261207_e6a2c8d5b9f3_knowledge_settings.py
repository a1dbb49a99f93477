"""A workspace's own embeddings provider, and its re-embedding's progress

Revision ID: e6a2c8d5b9f3
Revises: d4e9f3b7a1c2
Create Date: 2026-12-07 12:35:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadline.models.base

_TIME = leadline.models.base.UTCDateTime(timezone=True)

revision: str = "e6a2c8d5b9f3"
down_revision: str | None = "d4e9f3b7a1c2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "knowledge_settings",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("embeddings_url", sa.String(length=500), nullable=False),
        sa.Column("embeddings_model", sa.String(length=200), nullable=False),
        sa.Column("embeddings_key", sa.Text(), nullable=False),
        sa.Column("reembed_state", sa.String(length=20), nullable=False),
        sa.Column("reembed_done", sa.Integer(), nullable=False),
        sa.Column("reembed_total", sa.Integer(), nullable=False),
        sa.Column("reembed_error", sa.String(length=500), nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_knowledge_settings_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_knowledge_settings")),
    )


def downgrade() -> None:
    op.drop_table("knowledge_settings")
