"""The AI assistant: settings, per-conversation state, drafts, monthly token usage

Revision ID: c3d8e2a6f9b1
Revises: a7c4e9f1b2d6
Create Date: 2026-12-07 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadline.models.base

_TIME = leadline.models.base.UTCDateTime(timezone=True)

revision: str = "c3d8e2a6f9b1"
down_revision: str | None = "a7c4e9f1b2d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assistant_settings",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("api_key", sa.Text(), nullable=False),
        sa.Column("business_description", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(length=30), nullable=False),
        sa.Column("similarity_floor", sa.Float(), nullable=False),
        sa.Column("monthly_token_limit", sa.Integer(), nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_assistant_settings_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_assistant_settings")),
    )
    op.create_table(
        "assistant_conversations",
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("waiting_for_human", sa.Boolean(), nullable=False),
        sa.Column("handoff_reason", sa.String(length=40), nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_assistant_conversations_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_assistant_conversations_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_assistant_conversations")),
    )
    op.create_table(
        "assistant_drafts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("citations", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_assistant_drafts_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_assistant_drafts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistant_drafts")),
    )
    op.create_index(
        "ix_assistant_drafts_conversation",
        "assistant_drafts",
        ["workspace_id", "conversation_id", "created_at"],
    )
    op.create_table(
        "assistant_usage",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_assistant_usage_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "month", name=op.f("pk_assistant_usage")),
    )


def downgrade() -> None:
    op.drop_table("assistant_usage")
    op.drop_index("ix_assistant_drafts_conversation", table_name="assistant_drafts")
    op.drop_table("assistant_drafts")
    op.drop_table("assistant_conversations")
    op.drop_table("assistant_settings")
