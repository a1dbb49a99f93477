"""Conversion destinations and the uploads of leads' outcomes to them

Revision ID: f3c9a7d2b8e4
Revises: b7e3c1a9d5f2
Create Date: 2026-12-07 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadline.models.base

revision: str = "f3c9a7d2b8e4"
down_revision: str | None = "b7e3c1a9d5f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = leadline.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "conversion_destinations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("status_map", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_conversion_destinations_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion_destinations")),
    )
    with op.batch_alter_table("conversion_destinations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversion_destinations_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "conversion_uploads",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("destination_id", sa.String(length=40), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("event_name", sa.String(length=255), nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", _TIME, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.String(length=500), nullable=True),
        sa.Column("error_code", sa.String(length=200), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("sent_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["conversion_destinations.id"],
            name=op.f("fk_conversion_uploads_destination_id_conversion_destinations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_conversion_uploads_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_conversion_uploads_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion_uploads")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_conversion_uploads_dedupe_key")),
    )
    with op.batch_alter_table("conversion_uploads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversion_uploads_lead",
            ["workspace_id", "lead_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_conversion_uploads_due",
            ["destination_id", "next_attempt_at"],
            unique=False,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("conversion_uploads", schema=None) as batch_op:
        batch_op.drop_index("ix_conversion_uploads_due")
        batch_op.drop_index("ix_conversion_uploads_lead")
    op.drop_table("conversion_uploads")
    with op.batch_alter_table("conversion_destinations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversion_destinations_workspace_id"))
    op.drop_table("conversion_destinations")
