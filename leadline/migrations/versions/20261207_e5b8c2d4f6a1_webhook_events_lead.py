"""The lead a webhook event is about, so a lead's page lists the webhooks sent for it

Revision ID: e5b8c2d4f6a1
Revises: e5b8c1d4f7a2
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e5b8c2d4f6a1"
down_revision: str | None = "e5b8c1d4f7a2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Events sent before this revision keep no lead: their bodies are not read back here.
    with op.batch_alter_table("webhook_events") as batch_op:
        batch_op.add_column(sa.Column("lead_id", sa.String(length=40), nullable=True))
        batch_op.create_index(
            "ix_webhook_events_lead",
            ["workspace_id", "lead_id"],
            unique=False,
            sqlite_where=sa.text("lead_id IS NOT NULL"),
            postgresql_where=sa.text("lead_id IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_events") as batch_op:
        batch_op.drop_index("ix_webhook_events_lead")
        batch_op.drop_column("lead_id")
