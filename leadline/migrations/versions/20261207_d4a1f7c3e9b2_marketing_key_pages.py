"""A marketing key's own pages, and the environment variable a key was read from

Revision ID: d4a1f7c3e9b2
Revises: c2e8f4a6b0d1
Create Date: 2026-12-07 05:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4a1f7c3e9b2"
down_revision: str | None = "c2e8f4a6b0d1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.add_column(sa.Column("pages", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("from_env", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_column("from_env")
        batch_op.drop_column("pages")
