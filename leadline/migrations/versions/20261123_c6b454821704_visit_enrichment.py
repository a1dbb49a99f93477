"""visit enrichment

What the server adds to each tracked visit: browser, operating system and device parsed from the
user agent, why it is a bot's (empty for people), and the country.

Revision ID: c6b454821704
Revises: 1401f88392d2
Create Date: 2026-11-23 16:45:58.351795
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c6b454821704"
down_revision: str | None = "1401f88392d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("browser", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("os", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("device", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("bot_reason", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("country", sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("country")
        batch_op.drop_column("bot_reason")
        batch_op.drop_column("device")
        batch_op.drop_column("os")
        batch_op.drop_column("browser")
