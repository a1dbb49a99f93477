"""sessions: a revision the tracking writer raises on every change

The writer remembers the visits it has just written and changes them again without reading
them first; it makes each change only where the revision is still the one it wrote, and
reads the visit afresh when another process changed it meanwhile.

Revision ID: 7a1c2e9d4b60
Revises: 44b4645aefed
Create Date: 2026-12-03 07:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a1c2e9d4b60"
down_revision: str | None = "44b4645aefed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("revision")
