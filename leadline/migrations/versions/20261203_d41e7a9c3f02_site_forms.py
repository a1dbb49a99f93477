"""site_forms: the forms a site renders with /form.js

Revision ID: d41e7a9c3f02
Revises: b83f0c5d2e17
Create Date: 2026-12-03 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d41e7a9c3f02"
down_revision: str | None = "b83f0c5d2e17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_forms",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("form_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("form_json", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_forms_site_id_sites"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_site_forms_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_forms")),
        sa.UniqueConstraint("site_id", "form_id", name=op.f("uq_site_forms_site_id_form_id")),
    )
    op.create_index(
        op.f("ix_site_forms_workspace_id"), "site_forms", ["workspace_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_site_forms_workspace_id"), table_name="site_forms")
    op.drop_table("site_forms")
