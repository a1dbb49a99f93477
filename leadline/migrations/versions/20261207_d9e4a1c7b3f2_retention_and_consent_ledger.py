"""Retention periods and runs, the consent ledger (and the consent of each conversion upload),
and the audit chain's anchor

Revision ID: d9e4a1c7b3f2
Revises: a7d4e9c2b5f8
Create Date: 2026-12-07 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadline.models.base

_TIME = leadline.models.base.UTCDateTime(timezone=True)

revision: str = "d9e4a1c7b3f2"
down_revision: str | None = "a7d4e9c2b5f8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("data_class", sa.String(length=24), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_retention_policies_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "data_class", name=op.f("pk_retention_policies")),
    )
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("cutoffs", sa.Text(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("progress", sa.Text(), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_retention_runs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_runs")),
    )
    op.create_index(
        "ix_retention_runs_workspace_started",
        "retention_runs",
        ["workspace_id", "started_at", "id"],
        unique=False,
    )
    op.create_table(
        "consent_changes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=True),
        sa.Column("visit_id", sa.String(length=64), nullable=True),
        sa.Column("visitor_id", sa.String(length=64), nullable=True),
        sa.Column("lead_id", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.Column("occurred_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_consent_changes_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_changes")),
    )
    op.create_index(
        "ix_consent_changes_visitor",
        "consent_changes",
        ["workspace_id", "visitor_id", "occurred_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_consent_changes_lead",
        "consent_changes",
        ["workspace_id", "lead_id", "occurred_at", "id"],
        unique=False,
        sqlite_where=sa.text("lead_id IS NOT NULL"),
        postgresql_where=sa.text("lead_id IS NOT NULL"),
    )
    op.create_index(
        "ix_consent_changes_visit", "consent_changes", ["visit_id", "occurred_at"], unique=False
    )
    with op.batch_alter_table("audit_heads") as batch_op:
        batch_op.add_column(
            sa.Column("anchor_seq", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("anchor_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("conversion_uploads") as batch_op:
        batch_op.add_column(sa.Column("consent", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversion_uploads") as batch_op:
        batch_op.drop_column("consent")
    with op.batch_alter_table("audit_heads") as batch_op:
        batch_op.drop_column("anchor_hash")
        batch_op.drop_column("anchor_seq")
    op.drop_index("ix_consent_changes_visit", table_name="consent_changes")
    op.drop_index("ix_consent_changes_lead", table_name="consent_changes")
    op.drop_index("ix_consent_changes_visitor", table_name="consent_changes")
    op.drop_table("consent_changes")
    op.drop_index("ix_retention_runs_workspace_started", table_name="retention_runs")
    op.drop_table("retention_runs")
    op.drop_table("retention_policies")
