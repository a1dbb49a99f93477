"""Visitor days kept while the day is still going

- ``visitor_days.counted_until``: for a day not yet over, the moment up to which its visits
  are counted in the row (a report counts on from there); empty once the whole day is.

Revision ID: a4d7e2c9f1b6
Revises: e3b8f1a6c9d4
Create Date: 2026-12-07 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadline.models.base

revision: str = "a4d7e2c9f1b6"
down_revision: str | None = "e3b8f1a6c9d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("visitor_days", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("counted_until", leadline.models.base.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    # Days kept only in part are not known to an older release: it would take them as whole.
    op.execute("DELETE FROM visitor_days WHERE counted_until IS NOT NULL")
    with op.batch_alter_table("visitor_days", schema=None) as batch_op:
        batch_op.drop_column("counted_until")
