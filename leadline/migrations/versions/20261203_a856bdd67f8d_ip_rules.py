"""ip_rules: addresses whose form submissions are blocked, or are the team's own (allowed)

Revision ID: a856bdd67f8d
Revises: 2bef9ba50bfb
Create Date: 2026-12-03 08:31:43.251684
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a856bdd67f8d"
down_revision: str | None = "2bef9ba50bfb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ip_rules",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("network", sa.String(length=49), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ip_rules_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ip_rules")),
        sa.UniqueConstraint(
            "workspace_id", "network", name=op.f("uq_ip_rules_workspace_id_network")
        ),
    )


def downgrade() -> None:
    op.drop_table("ip_rules")
