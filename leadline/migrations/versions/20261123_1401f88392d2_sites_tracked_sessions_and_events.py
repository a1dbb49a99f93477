"""sites, tracked sessions and events

Sites (with the domains they may track from and a public site key), the tracker's columns on
``sessions`` (visitor, consent source, channel, engagement, counters; existing sessions get
zeros), and the raw ``events`` of each visit, unique per session and browser event id.

Revision ID: 1401f88392d2
Revises: 60976e45cbda
Create Date: 2026-11-23 16:41:26.241603
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadline.models.base

revision: str = "1401f88392d2"
down_revision: str | None = "60976e45cbda"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("site_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", leadline.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_sites_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.UniqueConstraint("site_key", name=op.f("uq_sites_site_key")),
    )
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sites_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "site_domains",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_site_domains_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_domains")),
        sa.UniqueConstraint("site_id", "domain", name=op.f("uq_site_domains_site_id_domain")),
    )
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", leadline.models.base.UTCDateTime(), nullable=False),
        sa.Column("received_at", leadline.models.base.UTCDateTime(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_events_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_events_site_id_sites"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_events_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("session_id", "client_id", name=op.f("uq_events_session_id_client_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_site_received", ["site_id", "received_at"], unique=False)

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("site_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("visitor_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("identified", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("referrer", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("utm_id", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("consent_source", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("channel", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("user_agent", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("language", sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("screen", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("ended_at", leadline.models.base.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("page_views", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("events", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("clicks", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("max_scroll", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("duration_ms", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("engagement_score", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "engagement_label", sa.String(length=16), server_default="Cold", nullable=False
            )
        )
        batch_op.create_index("ix_sessions_site_started", ["site_id", "started_at"], unique=False)
        batch_op.create_index(
            "ix_sessions_site_visitor", ["site_id", "visitor_id", "last_seen_at"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_sessions_site_id_sites"),
            "sites",
            ["site_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_sessions_site_id_sites"), type_="foreignkey")
        batch_op.drop_index("ix_sessions_site_visitor")
        batch_op.drop_index("ix_sessions_site_started")
        batch_op.drop_column("engagement_label")
        batch_op.drop_column("engagement_score")
        batch_op.drop_column("duration_ms")
        batch_op.drop_column("max_scroll")
        batch_op.drop_column("clicks")
        batch_op.drop_column("events")
        batch_op.drop_column("page_views")
        batch_op.drop_column("ended_at")
        batch_op.drop_column("screen")
        batch_op.drop_column("timezone")
        batch_op.drop_column("language")
        batch_op.drop_column("user_agent")
        batch_op.drop_column("channel")
        batch_op.drop_column("consent_source")
        batch_op.drop_column("utm_id")
        batch_op.drop_column("referrer")
        batch_op.drop_column("identified")
        batch_op.drop_column("visitor_id")
        batch_op.drop_column("site_id")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_site_received")

    op.drop_table("events")
    op.drop_table("site_domains")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sites_workspace_id"))

    op.drop_table("sites")
