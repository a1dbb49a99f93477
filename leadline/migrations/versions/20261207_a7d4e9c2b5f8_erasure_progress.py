"""An erasure too large for one transaction runs as a job: its state and its progress

Revision ID: a7d4e9c2b5f8
Revises: b9e2d5a7c1f3
Create Date: 2026-12-07 12:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7d4e9c2b5f8"
down_revision: str | None = "b9e2d5a7c1f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every erasure made before this revision finished in its own transaction.
    with op.batch_alter_table("erasures") as batch_op:
        batch_op.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="done")
        )
        batch_op.add_column(sa.Column("progress", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("erasures") as batch_op:
        batch_op.drop_column("progress")
        batch_op.drop_column("state")
