"""leads.import_key: an imported row's digest, unique per workspace, so a re-import adds nothing

Revision ID: e6b235438838
Revises: 5e8d3c1a9f47
Create Date: 2026-12-04 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e6b235438838"
down_revision: str | None = "5e8d3c1a9f47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: batch mode leaves the table as it is (recreating
    # it would drop the expression indexes SQLite cannot reflect).
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("import_key", sa.String(length=64), nullable=True))
    present = sa.text("import_key IS NOT NULL")
    op.create_index(
        "uq_leads_ws_import_key",
        "leads",
        ["workspace_id", "import_key"],
        unique=True,
        sqlite_where=present,
        postgresql_where=present,
    )


def downgrade() -> None:
    op.drop_index("uq_leads_ws_import_key", table_name="leads")
    # Not in batch mode, which would recreate the table on SQLite and lose its expression
    # indexes: SQLite (3.35 and later) drops a column in place.
    op.drop_column("leads", "import_key")
