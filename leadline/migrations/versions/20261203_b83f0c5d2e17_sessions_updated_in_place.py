"""sessions: updated in place

Every tracked event changes its visit's ``last_seen_at``, and the index that finds a
visitor's visits ended with it, so every event rewrote an entry in each of the table's
indexes (on PostgreSQL no update could stay in its page: none was HOT). The index now ends
with ``started_at``, which never changes. On PostgreSQL the table's pages also keep a quarter
free, so that an update finds room beside the row it replaces.

Revision ID: b83f0c5d2e17
Revises: 7a1c2e9d4b60
Create Date: 2026-12-03 08:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b83f0c5d2e17"
down_revision: str | None = "7a1c2e9d4b60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_site_visitor")
        batch_op.create_index(
            "ix_sessions_site_visitor_started", ["site_id", "visitor_id", "started_at"]
        )
    if op.get_bind().dialect.name == "postgresql":
        # Pages written from now on; a VACUUM FULL applies it to the old ones.
        op.execute("ALTER TABLE sessions SET (fillfactor = 75)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE sessions RESET (fillfactor)")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_site_visitor_started")
        batch_op.create_index("ix_sessions_site_visitor", ["site_id", "visitor_id", "last_seen_at"])
