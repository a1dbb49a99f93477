"""website index

A lead's and a visit's ``website`` is the site's origin (scheme, host, port). Capping it at 512
characters keeps every value within PostgreSQL's B-tree entry limit, so the ``website`` filter
gets an index that serves it in the default order, like the UTM tags. Longer values, which no
origin has, are cut to 512 characters first.

Revision ID: 040e6fc5e3b5
Revises: 083b1efa0622
Create Date: 2026-11-23 14:51:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "040e6fc5e3b5"
down_revision: str | None = "083b1efa0622"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("leads", "sessions")


def upgrade() -> None:
    for table in _TABLES:
        op.execute(
            # Table names come from the constant above, never from input.
            f"UPDATE {table} SET website = substr(website, 1, 512) WHERE length(website) > 512"  # noqa: S608
        )
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(
                "website",
                existing_type=sa.VARCHAR(length=2048),
                type_=sa.String(length=512),
                existing_nullable=True,
            )
    op.create_index("ix_leads_ws_website", "leads", ["workspace_id", "website", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_leads_ws_website", table_name="leads")
    for table in _TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(
                "website",
                existing_type=sa.String(length=512),
                type_=sa.VARCHAR(length=2048),
                existing_nullable=True,
            )
