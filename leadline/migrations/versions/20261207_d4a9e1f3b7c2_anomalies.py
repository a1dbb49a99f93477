"""Anomalies found by the hourly check, refused requests per site and hour, and submissions
by site and time

Revision ID: d4a9e1f3b7c2
Revises: d4a9e1f7c3b2
Create Date: 2026-12-07 05:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadline.models.base

revision: str = "d4a9e1f3b7c2"
down_revision: str | None = "d4a9e1f7c3b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "anomalies",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column(
            "first_seen_hour", leadline.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_seen_hour", leadline.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("window_hours", sa.Integer(), nullable=False),
        sa.Column("observed", sa.Float(), nullable=False),
        sa.Column("expected_low", sa.Float(), nullable=False),
        sa.Column("expected_high", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("sentence", sa.Text(), nullable=False),
        sa.Column("created_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", leadline.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_anomalies_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_anomalies_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomalies")),
    )
    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_anomalies_workspace_seen", ["workspace_id", "last_seen_hour"], unique=False
        )
        batch_op.create_index(
            "uq_anomalies_open",
            ["site_id", "kind"],
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )
    op.create_table(
        "ingest_errors_hourly",
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("hour", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("errors", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_ingest_errors_hourly_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ingest_errors_hourly_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "hour", name=op.f("pk_ingest_errors_hourly")),
    )
    with op.batch_alter_table("ingest_errors_hourly", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ingest_errors_hourly_workspace_id"), ["workspace_id"], unique=False
        )
    with op.batch_alter_table("lead_submissions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lead_submissions_site_created", ["site_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("lead_submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_submissions_site_created")
    with op.batch_alter_table("ingest_errors_hourly", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_errors_hourly_workspace_id"))
    op.drop_table("ingest_errors_hourly")
    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_anomalies_open",
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )
        batch_op.drop_index("ix_anomalies_workspace_seen")
    op.drop_table("anomalies")
