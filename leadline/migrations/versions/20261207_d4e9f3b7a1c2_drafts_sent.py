"""A draft remembers when an operator sent it and the message it became

Revision ID: d4e9f3b7a1c2
Revises: c3d8e2a6f9b1
Create Date: 2026-12-07 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadline.models.base

_TIME = leadline.models.base.UTCDateTime(timezone=True)

revision: str = "d4e9f3b7a1c2"
down_revision: str | None = "c3d8e2a6f9b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assistant_drafts") as batch:
        batch.add_column(sa.Column("used_at", _TIME, nullable=True))
        batch.add_column(sa.Column("sent_message_id", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assistant_drafts") as batch:
        batch.drop_column("sent_message_id")
        batch.drop_column("used_at")
