"""events without redundant foreign keys

An event's workspace and site are copied from its visit, whose foreign key already takes the
events with it when the site or the workspace is deleted; the two extra checks cost every
inserted event (about a third of PostgreSQL's insert time).

Revision ID: 483871f5b316
Revises: f1df42fdc9c5
Create Date: 2026-11-23 18:06:54.096386
"""

from collections.abc import Sequence

from alembic import op

revision: str = "483871f5b316"
down_revision: str | None = "f1df42fdc9c5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_events_workspace_id_workspaces"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_events_site_id_sites"), type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_events_site_id_sites"), "sites", ["site_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_events_workspace_id_workspaces"),
            "workspaces",
            ["workspace_id"],
            ["id"],
            ondelete="CASCADE",
        )
