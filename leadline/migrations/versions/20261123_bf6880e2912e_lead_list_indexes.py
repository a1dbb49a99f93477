"""lead list indexes

Indexes for the documented GET /api/leads filters that had none: value, label, and each click
ID and the rarer UTM tags. All but the value index are partial (only rows that carry the field),
so they cost an insert nothing when the field is empty.

Revision ID: bf6880e2912e
Revises: 38eddd03add0
Create Date: 2026-11-23 13:27:33.073691
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "bf6880e2912e"
down_revision: str | None = "38eddd03add0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Columns that get a partial (workspace_id, column) index; gclid already has a full one.
PRESENT_COLUMNS: tuple[str, ...] = (
    "dclid",
    "gbraid",
    "wbraid",
    "ga4cid",
    "ga4sid",
    "fbc",
    "fbp",
    "msclkid",
    "ttclid",
    "twclid",
    "rdt_cid",
    "sccid",
    "li_fat_id",
    "epik",
    "utm_term",
    "utm_content",
)


def _create_where_present(name: str, columns: list[str], column: str) -> None:
    present = sa.text(f"{column} IS NOT NULL")
    op.create_index(name, "leads", columns, sqlite_where=present, postgresql_where=present)


def upgrade() -> None:
    op.create_index("ix_leads_ws_value", "leads", ["workspace_id", "value", "id"])
    _create_where_present("ix_leads_label", ["label_id"], "label_id")
    for column in PRESENT_COLUMNS:
        _create_where_present(f"ix_leads_ws_{column}", ["workspace_id", column], column)


def downgrade() -> None:
    for column in reversed(PRESENT_COLUMNS):
        op.drop_index(f"ix_leads_ws_{column}", table_name="leads")
    op.drop_index("ix_leads_label", table_name="leads")
    op.drop_index("ix_leads_ws_value", table_name="leads")
