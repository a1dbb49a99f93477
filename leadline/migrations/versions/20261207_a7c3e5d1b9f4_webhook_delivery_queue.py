"""Webhook deliveries queue themselves: next_attempt_at, a lease (locked_by, locked_until)

A delivery job now claims many pending deliveries at once from ``webhook_deliveries`` itself,
instead of one job per delivery. Pending deliveries take their due time from the job that was
going to send them (its ``run_at``), or are due now; the old jobs still run, and only wake
the new delivery job.

Revision ID: a7c3e5d1b9f4
Revises: 2d77c8b491cf
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadline.models.base

revision: str = "a7c3e5d1b9f4"
down_revision: str | None = "2d77c8b491cf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    # Plain ADD COLUMNs on both databases (batch mode would recreate the table on SQLite).
    op.add_column(
        "webhook_deliveries",
        sa.Column("next_attempt_at", leadline.models.base.UTCDateTime(), nullable=True),
    )
    op.add_column("webhook_deliveries", sa.Column("locked_by", sa.String(length=40), nullable=True))
    op.add_column(
        "webhook_deliveries",
        sa.Column("locked_until", leadline.models.base.UTCDateTime(), nullable=True),
    )
    # The old jobs' payloads are {"delivery_id":"whd_..."}, written without spaces.
    op.execute(
        """
        UPDATE webhook_deliveries SET next_attempt_at = COALESCE(
            (SELECT MIN(jobs.run_at) FROM jobs
             WHERE jobs.kind = 'webhooks.deliver' AND jobs.state IN ('queued', 'running')
               AND jobs.payload = '{"delivery_id":"' || webhook_deliveries.id || '"}'),
            updated_at)
        WHERE state = 'pending'
        """
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )


def downgrade() -> None:
    # Each pending delivery gets back a job of its own, as the previous code expects, and the
    # delivery jobs that name no delivery (which it cannot run) go.
    op.execute(
        "DELETE FROM jobs WHERE kind = 'webhooks.deliver' AND state = 'queued' "
        "AND payload NOT LIKE '%delivery_id%'"
    )
    op.execute(
        """
        INSERT INTO jobs (id, workspace_id, kind, payload, state, attempts, max_attempts,
                          run_at, created_at, updated_at)
        SELECT 'job_' || id, workspace_id, 'webhooks.deliver',
               '{"delivery_id":"' || id || '"}', 'queued', attempts, 8,
               COALESCE(next_attempt_at, updated_at), updated_at, updated_at
        FROM webhook_deliveries WHERE state = 'pending'
        """
    )
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_column("webhook_deliveries", "locked_until")
    op.drop_column("webhook_deliveries", "locked_by")
    op.drop_column("webhook_deliveries", "next_attempt_at")
