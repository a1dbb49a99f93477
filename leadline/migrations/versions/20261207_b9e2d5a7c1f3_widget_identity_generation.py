"""The chat widget: a number that rotates a workspace's identity secret

Revision ID: b9e2d5a7c1f3
Revises: e6a2c8d5b9f3
Create Date: 2026-12-07 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b9e2d5a7c1f3"
down_revision: str | None = "e6a2c8d5b9f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(
            sa.Column(
                "widget_identity_generation",
                sa.Integer(),
                nullable=False,
                server_default="0",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("widget_identity_generation")
