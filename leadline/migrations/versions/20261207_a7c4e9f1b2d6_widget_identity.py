"""The chat widget: a workspace's choice to verify identities (leadiosa.identify)

Revision ID: a7c4e9f1b2d6
Revises: 6b2e9d4f1a8c
Create Date: 2026-12-07 10:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7c4e9f1b2d6"
down_revision: str | None = "6b2e9d4f1a8c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(
            sa.Column(
                "widget_identity_verification",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("widget_identity_verification")
