"""Hourly tracking rollups, so that reports' days can be any time zone's

- ``tracking_hourly``: per site, dimension, UTC hour and value, the visits, page views and
  events the tracking writer counted in the transaction that stored them (beside
  ``tracking_daily``, which stays as it is). Starts empty: hours before this revision are
  read from the daily rows where a report's days are whole UTC days.

Revision ID: d4a9b2c6e8f1
Revises: d4a9e1f3b7c2
Create Date: 2026-12-07 05:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadline.models.base

revision: str = "d4a9b2c6e8f1"
down_revision: str | None = "d4a9e1f3b7c2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracking_hourly",
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("hour", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("visits", sa.Integer(), server_default="0", nullable=False),
        sa.Column("page_views", sa.Integer(), server_default="0", nullable=False),
        sa.Column("events", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_tracking_hourly_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_tracking_hourly_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "site_id", "dimension", "hour", "value", name=op.f("pk_tracking_hourly")
        ),
    )
    with op.batch_alter_table("tracking_hourly", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracking_hourly_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tracking_hourly", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracking_hourly_workspace_id"))
    op.drop_table("tracking_hourly")
