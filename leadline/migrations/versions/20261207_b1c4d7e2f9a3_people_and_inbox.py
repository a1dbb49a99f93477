"""People and their tokens; the inbox's contacts, conversations, messages and notes; a
workspace's lifecycle and routing settings

Revision ID: b1c4d7e2f9a3
Revises: a7c3e5d1b9f4
Create Date: 2026-12-07 01:17:16.055359
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadline.models.base

revision: str = "b1c4d7e2f9a3"
down_revision: str | None = "a7c3e5d1b9f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("lead_id", sa.String(length=40), nullable=True),
        sa.Column("spam", sa.Boolean(), nullable=False),
        sa.Column("merged_into_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_contacts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contacts_workspace_email", ["workspace_id", "email"], unique=False
        )
        batch_op.create_index(
            "ix_contacts_workspace_external_id", ["workspace_id", "external_id"], unique=False
        )
        batch_op.create_index(
            "ix_contacts_workspace_phone", ["workspace_id", "phone"], unique=False
        )
        batch_op.create_index(
            "ix_contacts_workspace_updated", ["workspace_id", "updated_at", "id"], unique=False
        )

    op.create_table(
        "people",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("availability", sa.String(length=10), nullable=False),
        sa.Column(
            "last_assigned_at", leadline.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_people_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("workspace_id", "email", name=op.f("uq_people_workspace_id_email")),
    )
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_people_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("contact_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("assignee_id", sa.String(length=40), nullable=True),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("snoozed_until", leadline.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_reply_at", leadline.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("waiting_since", leadline.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("assigned_at", leadline.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("visit_id", sa.String(length=40), nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column(
            "last_activity_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("created_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["people.id"],
            name=op.f("fk_conversations_assignee_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_conversations_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_conversations_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversations_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            "ix_conversations_workspace_activity",
            ["workspace_id", "last_activity_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_conversations_workspace_assignee_activity",
            ["workspace_id", "assignee_id", "last_activity_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_conversations_workspace_status_activity",
            ["workspace_id", "status", "last_activity_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_conversations_workspace_updated", ["workspace_id", "updated_at", "id"], unique=False
        )

    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("author", sa.String(length=10), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("quarantined", sa.Boolean(), nullable=False),
        sa.Column("created_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_messages_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_messages_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_workspace_created", ["workspace_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "uq_messages_conversation_seq", ["conversation_id", "seq"], unique=True
        )

    op.create_table(
        "notes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=True),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("mentions", sa.Text(), nullable=False),
        sa.Column("created_at", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_notes_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_notes_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_notes_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notes_conversation_created", ["conversation_id", "created_at", "id"], unique=False
        )

    # SQLite adds a foreign key only by copying the table (batch mode); api_keys is small.
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("person_id", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_api_keys_person_id"), ["person_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_person_id_people"),
            "people",
            ["person_id"],
            ["id"],
            ondelete="CASCADE",
        )
    # Plain ADD COLUMNs: copying the workspaces table would gain nothing.
    op.add_column(
        "workspaces",
        sa.Column("status", sa.String(length=10), server_default="active", nullable=False),
    )
    op.add_column(
        "workspaces",
        sa.Column("closed_at", leadline.models.base.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "workspaces",
        sa.Column("purge_after", leadline.models.base.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "workspaces",
        sa.Column("auto_assign", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column("workspaces", sa.Column("auto_reassign_minutes", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        for column in (
            "auto_reassign_minutes",
            "auto_assign",
            "purge_after",
            "closed_at",
            "status",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_person_id"))
        batch_op.drop_constraint("fk_api_keys_person_id_people", type_="foreignkey")
        batch_op.drop_column("person_id")

    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index("ix_notes_conversation_created")

    op.drop_table("notes")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("uq_messages_conversation_seq")
        batch_op.drop_index("ix_messages_workspace_created")

    op.drop_table("messages")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_workspace_updated")
        batch_op.drop_index("ix_conversations_workspace_status_activity")
        batch_op.drop_index("ix_conversations_workspace_assignee_activity")
        batch_op.drop_index("ix_conversations_workspace_activity")
        batch_op.drop_index(batch_op.f("ix_conversations_contact_id"))

    op.drop_table("conversations")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_people_workspace_id"))

    op.drop_table("people")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_workspace_updated")
        batch_op.drop_index("ix_contacts_workspace_phone")
        batch_op.drop_index("ix_contacts_workspace_external_id")
        batch_op.drop_index("ix_contacts_workspace_email")

    op.drop_table("contacts")
