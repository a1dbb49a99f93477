"""lead counter and composite list indexes

A per-workspace lead count, kept by the lead service in the transaction that adds a lead, so the
unfiltered list answers its total without counting. Indexes that serve an equality filter and the
default order together: campaign, source and medium tags, and labels (per workspace).

Revision ID: 083b1efa0622
Revises: bf6880e2912e
Create Date: 2026-11-23 14:19:09.969842
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "083b1efa0622"
down_revision: str | None = "bf6880e2912e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LABELLED = sa.text("label_id IS NOT NULL")


def upgrade() -> None:
    op.add_column(
        "workspaces",
        sa.Column("lead_count", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.execute(
        "UPDATE workspaces SET lead_count = "
        "(SELECT count(*) FROM leads WHERE leads.workspace_id = workspaces.id)"
    )

    op.drop_index("ix_leads_label", table_name="leads")
    op.create_index(
        "ix_leads_ws_label",
        "leads",
        ["workspace_id", "label_id", "created_at", "id"],
        sqlite_where=_LABELLED,
        postgresql_where=_LABELLED,
    )
    op.drop_index("ix_leads_ws_campaign", table_name="leads")
    op.create_index(
        "ix_leads_ws_campaign", "leads", ["workspace_id", "utm_campaign", "created_at", "id"]
    )
    op.create_index(
        "ix_leads_ws_utm_source", "leads", ["workspace_id", "utm_source", "created_at", "id"]
    )
    op.create_index(
        "ix_leads_ws_utm_medium", "leads", ["workspace_id", "utm_medium", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_leads_ws_utm_medium", table_name="leads")
    op.drop_index("ix_leads_ws_utm_source", table_name="leads")
    op.drop_index("ix_leads_ws_campaign", table_name="leads")
    op.create_index("ix_leads_ws_campaign", "leads", ["workspace_id", "utm_campaign"])
    op.drop_index("ix_leads_ws_label", table_name="leads")
    op.create_index(
        "ix_leads_label", "leads", ["label_id"], sqlite_where=_LABELLED, postgresql_where=_LABELLED
    )
    with op.batch_alter_table("workspaces") as batch_op:
        batch_op.drop_column("lead_count")
