"""Distinct visitors per site and day of a time zone, with a sketch to merge

- ``visitor_days``: per site, zone and local day, the exact number of distinct visitors and a
  HyperLogLog sketch of their ids, kept once the day is over. Starts empty: a report fills
  the days it reads (docs/adr/0011-visitor-sketches.md).

Revision ID: b7e3c1a9d5f2
Revises: e5b8c2d4f6a1
Create Date: 2026-12-07 09:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7e3c1a9d5f2"
down_revision: str | None = "e5b8c2d4f6a1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visitor_days",
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("visitors", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sketch", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_visitor_days_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_visitor_days_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "zone", "day", name=op.f("pk_visitor_days")),
    )
    with op.batch_alter_table("visitor_days", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_visitor_days_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("visitor_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitor_days_workspace_id"))
    op.drop_table("visitor_days")
