"""events: unique by event id first, and no foreign key to their visit

The index that keeps a visit's events unique now starts with the event id. Ids the server
gives increase, so the events of one group commit land at the end of the index; led by the
visit, every visit in the group rewrote a page of its own (five times the write-ahead log per
single event on SQLite). Without an index led by ``session_id``, a cascade from ``sessions``
would scan ``events`` for every deleted visit, so the foreign key goes too: the writer checks
the visit in the transaction that stores its events, and deleting a site deletes its events
first, by site.

On a large ``events`` table the new unique index takes a while to build.

Revision ID: 44b4645aefed
Revises: 483871f5b316
Create Date: 2026-11-23 19:47:30.717528
"""

from collections.abc import Sequence

from alembic import op

revision: str = "44b4645aefed"
down_revision: str | None = "483871f5b316"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_events_session_id_sessions"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_events_session_id_client_id"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_events_client_id_session_id"), ["client_id", "session_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_events_client_id_session_id"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_events_session_id_client_id"), ["session_id", "client_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_events_session_id_sessions"),
            "sessions",
            ["session_id"],
            ["id"],
            ondelete="CASCADE",
        )
