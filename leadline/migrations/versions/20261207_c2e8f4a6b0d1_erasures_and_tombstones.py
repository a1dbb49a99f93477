"""Erasure receipts, tombstones of erased people, and what a workspace does when one returns

Revision ID: c2e8f4a6b0d1
Revises: b1c4d7e2f9a3
Create Date: 2026-12-07 01:22:23.579777
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadline.models.base

revision: str = "c2e8f4a6b0d1"
down_revision: str | None = "b1c4d7e2f9a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("contact_id", sa.String(length=40), nullable=True),
        sa.Column("matched", sa.Text(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("receipt_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_erasures_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
    )
    with op.batch_alter_table("erasures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_erasures_workspace_created", ["workspace_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "tombstones",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("erasure_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_tombstones_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tombstones")),
        sa.UniqueConstraint(
            "workspace_id", "digest", name=op.f("uq_tombstones_workspace_id_digest")
        ),
    )
    op.add_column(
        "contacts",
        sa.Column("erased_at", leadline.models.base.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "workspaces",
        sa.Column("erased_returns", sa.String(length=10), server_default="accept", nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("erased_returns")

    op.drop_table("tombstones")
    with op.batch_alter_table("erasures", schema=None) as batch_op:
        batch_op.drop_index("ix_erasures_workspace_created")

    op.drop_table("erasures")
