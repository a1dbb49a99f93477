"""lead_submissions: every form submission, with the lead it made or joined

Revision ID: 2bef9ba50bfb
Revises: d41e7a9c3f02
Create Date: 2026-12-03 08:24:49.095839
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2bef9ba50bfb"
down_revision: str | None = "d41e7a9c3f02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lead_submissions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=True),
        sa.Column("site_id", sa.String(length=40), nullable=True),
        sa.Column("form_id", sa.String(length=64), nullable=True),
        sa.Column("project", sa.String(length=200), server_default="", nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone_e164", sa.String(length=20), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("time_to_submit_ms", sa.Integer(), nullable=True),
        sa.Column("suspicion_score", sa.Integer(), server_default="0", nullable=False),
        sa.Column("engagement_score", sa.Integer(), nullable=True),
        sa.Column("engagement_label", sa.String(length=16), nullable=True),
        sa.Column("contact_consent", sa.Boolean(), nullable=True),
        sa.Column("suspicion_reasons", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_lead_submissions_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_lead_submissions_site_id_sites"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_lead_submissions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_submissions")),
    )
    with op.batch_alter_table("lead_submissions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lead_submissions_email", ["workspace_id", "project", "email"], unique=False
        )
        batch_op.create_index(
            "ix_lead_submissions_ip", ["workspace_id", "project", "ip"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_lead_submissions_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(
            "ix_lead_submissions_phone", ["workspace_id", "project", "phone_e164"], unique=False
        )
        batch_op.create_index(
            "ix_lead_submissions_visitor", ["workspace_id", "project", "visitor_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("lead_submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_submissions_visitor")
        batch_op.drop_index("ix_lead_submissions_phone")
        batch_op.drop_index(batch_op.f("ix_lead_submissions_lead_id"))
        batch_op.drop_index("ix_lead_submissions_ip")
        batch_op.drop_index("ix_lead_submissions_email")

    op.drop_table("lead_submissions")
