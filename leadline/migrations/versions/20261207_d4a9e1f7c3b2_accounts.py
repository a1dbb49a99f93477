"""Accounts: people's passwords, the browsers signed in as them (sign-ins), one-time links

Revision ID: d4a9e1f7c3b2
Revises: d4a1f7c3e9b2
Create Date: 2026-12-07 05:13:03.241864
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadline.models.base

revision: str = "d4a9e1f7c3b2"
down_revision: str | None = "d4a1f7c3e9b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "one_time_links",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", leadline.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_one_time_links_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_one_time_links_token_hash")),
    )
    with op.batch_alter_table("one_time_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_one_time_links_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "person_passwords",
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("changed_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_person_passwords_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_person_passwords_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_person_passwords")),
    )
    with op.batch_alter_table("person_passwords", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_person_passwords_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "signins",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(length=512), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_signins_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_signins_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signins")),
    )
    with op.batch_alter_table("signins", schema=None) as batch_op:
        batch_op.create_index("ix_signins_person_id", ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_signins_workspace_id"), ["workspace_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("signins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signins_workspace_id"))
        batch_op.drop_index("ix_signins_person_id")

    op.drop_table("signins")
    with op.batch_alter_table("person_passwords", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_passwords_workspace_id"))

    op.drop_table("person_passwords")
    with op.batch_alter_table("one_time_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_one_time_links_workspace_id"))

    op.drop_table("one_time_links")
