"""leads.utm_id: a lead keeps the campaign id tag as its visit does (one list of UTM fields)

Revision ID: 3d9e6b1f0a52
Revises: c5a1f0e7d392
Create Date: 2026-12-06 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3d9e6b1f0a52"
down_revision: str | None = "c5a1f0e7d392"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PRESENT = sa.text("utm_id IS NOT NULL")


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: batch mode leaves the table as it is (recreating
    # it would drop the expression indexes SQLite cannot reflect).
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("utm_id", sa.String(length=512), nullable=True))
    # Filterable like the other rarely set fields: an equality index and an [exists] index,
    # each over only the leads that carry it.
    op.create_index(
        "ix_leads_ws_utm_id",
        "leads",
        ["workspace_id", "utm_id"],
        sqlite_where=_PRESENT,
        postgresql_where=_PRESENT,
    )
    op.create_index(
        "ix_leads_ws_has_utm_id",
        "leads",
        ["workspace_id", "created_at", "id"],
        sqlite_where=_PRESENT,
        postgresql_where=_PRESENT,
    )


def downgrade() -> None:
    op.drop_index("ix_leads_ws_has_utm_id", table_name="leads")
    op.drop_index("ix_leads_ws_utm_id", table_name="leads")
    # SQLite (3.35 and later) drops a column in place; batch mode would recreate the table.
    op.drop_column("leads", "utm_id")
