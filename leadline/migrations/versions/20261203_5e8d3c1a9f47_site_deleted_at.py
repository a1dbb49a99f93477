"""sites.deleted_at: a deleted site keeps its data, and its key no longer names it

Revision ID: 5e8d3c1a9f47
Revises: ae675ef6681e
Create Date: 2026-12-03 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e8d3c1a9f47"
down_revision: str | None = "ae675ef6681e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("deleted_at")
