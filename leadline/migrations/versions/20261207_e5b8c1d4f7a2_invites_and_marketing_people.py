"""Invites (one-time links naming an email, role and pages) and marketing people's pages

Revision ID: e5b8c1d4f7a2
Revises: d4a7b9c3e1f5
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e5b8c1d4f7a2"
down_revision: str | None = "d4a7b9c3e1f5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pages", sa.Text(), nullable=True))
    with op.batch_alter_table("one_time_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("role", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("pages", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("invited_by", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("one_time_links", schema=None) as batch_op:
        batch_op.drop_column("invited_by")
        batch_op.drop_column("pages")
        batch_op.drop_column("role")
        batch_op.drop_column("email")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("pages")
