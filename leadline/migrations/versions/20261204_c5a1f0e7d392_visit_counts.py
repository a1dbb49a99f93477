"""visit_counts: what groups of events added to visits whose rows were not rewritten then

Under load the PostgreSQL tracking writer stops rewriting a visit's row for every group of
its events: each group stores what it added as one short row here, and a later transaction
adds the rows to their visits and deletes them (see ``leadline.tracking.writer``).

Revision ID: c5a1f0e7d392
Revises: e6b235438838
Create Date: 2026-12-04 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c5a1f0e7d392"
down_revision: str | None = "e6b235438838"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visit_counts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("writer", sa.Integer(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_visit_counts_writer", "visit_counts", ["writer"])


def downgrade() -> None:
    op.drop_index("ix_visit_counts_writer", table_name="visit_counts")
    op.drop_table("visit_counts")
