"""crm_sends, crm_activity: what lead capture sent to the CRM and what the CRM reported back

Revision ID: ae675ef6681e
Revises: a856bdd67f8d
Create Date: 2026-12-03 08:33:38.705332
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ae675ef6681e"
down_revision: str | None = "a856bdd67f8d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_activity",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=True),
        sa.Column("lead_id", sa.String(length=40), nullable=True),
        sa.Column("crm_lead_id", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_crm_activity_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_crm_activity_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_activity")),
    )
    with op.batch_alter_table("crm_activity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crm_activity_lead_id"), ["lead_id"], unique=False)

    op.create_table(
        "crm_sends",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("submission_id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["lead_submissions.id"],
            name=op.f("fk_crm_sends_submission_id_lead_submissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_crm_sends_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_sends")),
    )
    with op.batch_alter_table("crm_sends", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_crm_sends_submission_id"), ["submission_id"], unique=False
        )

    with op.batch_alter_table("lead_submissions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("forward_queued_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("crm_lead_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("make_execution_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("make_status", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_lead_submissions_crm", ["crm_lead_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lead_submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_submissions_crm")
        batch_op.drop_column("make_status")
        batch_op.drop_column("make_execution_url")
        batch_op.drop_column("crm_lead_id")
        batch_op.drop_column("forward_queued_at")

    with op.batch_alter_table("crm_sends", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_sends_submission_id"))

    op.drop_table("crm_sends")
    with op.batch_alter_table("crm_activity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_activity_lead_id"))

    op.drop_table("crm_activity")
