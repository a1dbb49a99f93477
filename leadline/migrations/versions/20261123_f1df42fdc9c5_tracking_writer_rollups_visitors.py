"""tracking writer: daily rollups, visitors, return visits, device ids, site privacy settings

- ``tracking_daily``: per site, UTC day and dimension, the visits, visitors, page views and
  events the tracking writer counted in the transaction that stored them.
- ``visitors``: a visitor's first and last visit, and first and last touch with their times.
- ``sessions.earlier_visits`` (taken once when a visit starts; filled here for existing visits)
  and ``sessions.device_id``.
- ``sites.respect_dnt``, ``respect_gpc`` and ``fingerprinting``.

Revision ID: f1df42fdc9c5
Revises: c6b454821704
Create Date: 2026-11-23 17:53:08.151363
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from leadline.models.base import UTCDateTime

revision: str = "f1df42fdc9c5"
down_revision: str | None = "c6b454821704"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracking_daily",
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("sessions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("visitors", sa.Integer(), server_default="0", nullable=False),
        sa.Column("page_views", sa.Integer(), server_default="0", nullable=False),
        sa.Column("events", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_tracking_daily_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_tracking_daily_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "site_id", "day", "dimension", "value", name=op.f("pk_tracking_daily")
        ),
    )
    with op.batch_alter_table("tracking_daily", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracking_daily_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "visitors",
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("identified", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("visits", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_touch_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_touch", sa.Text(), nullable=True),
        sa.Column("last_touch_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_touch", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_visitors_site_id_sites"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_visitors_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "visitor_id", name=op.f("pk_visitors")),
    )
    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_visitors_workspace_id"), ["workspace_id"], unique=False
        )

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("earlier_visits", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("device_id", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE sessions SET earlier_visits = (SELECT count(*) FROM sessions AS earlier"
        " WHERE earlier.site_id = sessions.site_id"
        " AND earlier.visitor_id = sessions.visitor_id"
        " AND earlier.started_at < sessions.started_at)"
        " WHERE site_id IS NOT NULL AND visitor_id IS NOT NULL"
    )

    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("respect_dnt", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("respect_gpc", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("fingerprinting", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("fingerprinting")
        batch_op.drop_column("respect_gpc")
        batch_op.drop_column("respect_dnt")

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("device_id")
        batch_op.drop_column("earlier_visits")

    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitors_workspace_id"))
    op.drop_table("visitors")

    with op.batch_alter_table("tracking_daily", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracking_daily_workspace_id"))
    op.drop_table("tracking_daily")
