"""lead facets and sort indexes

``lead_facets`` counts a workspace's leads per status, source and website and per field that is
set, kept by the lead service in the transaction of every write, so a list filtered on one of
these knows its total without a COUNT. It is filled here from the existing leads.

Every list index now ends with (created_at, id), the order ties are broken in, so status,
source, updatedAt and the nullable sorts are read in order from an index. The nullable sorts
(value, qualifiedAt, name, email) need NULLS FIRST on PostgreSQL, which SQLite cannot say, so
those indexes are created per database here and not described by the models. Leads that carry
a rarer field get an index of their own in the default order, for ``[exists]=true`` pages; a
lookup by email (any case) and by the phone as sent get indexes too.

Revision ID: 5c1f0e9a7b24
Revises: 040e6fc5e3b5
Create Date: 2026-11-23 16:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c1f0e9a7b24"
down_revision: str | None = "040e6fc5e3b5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model's field lists as of this revision.
_PARTIAL = (
    "dclid",
    "gbraid",
    "wbraid",
    "ga4cid",
    "ga4sid",
    "fbc",
    "fbp",
    "msclkid",
    "ttclid",
    "twclid",
    "rdt_cid",
    "sccid",
    "li_fat_id",
    "epik",
    "utm_term",
    "utm_content",
)
_PRESENT_TEXT = (
    "label_id",
    "website",
    "gclid",
    *_PARTIAL[:14],
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)
_PRESENT_OTHER = ("value", "qualified_at")
_SORTS = {
    "ix_leads_ws_value": "value",
    "ix_leads_ws_qualified": "qualified_at",
    "ix_leads_ws_name": "name",
    "ix_leads_ws_email": "email",
}


def _fill_facets() -> None:
    # Column names come from the constants above, never from input.
    insert = "INSERT INTO lead_facets (workspace_id, facet, count) "
    for column in ("status", "source"):
        op.execute(
            f"{insert}SELECT workspace_id, '{column}:' || {column}, count(*) "  # noqa: S608
            f"FROM leads GROUP BY workspace_id, {column}"
        )
    op.execute(
        f"{insert}SELECT workspace_id, 'website:' || website, count(*) FROM leads "  # noqa: S608
        "WHERE website IS NOT NULL GROUP BY workspace_id, website"
    )
    for column in (*_PRESENT_TEXT, *_PRESENT_OTHER):
        present = f"{column} IS NOT NULL"
        if column in _PRESENT_TEXT:
            present += f" AND {column} <> ''"
        op.execute(
            f"{insert}SELECT workspace_id, 'has:{column}', count(*) FROM leads "  # noqa: S608
            f"WHERE {present} GROUP BY workspace_id"
        )


def upgrade() -> None:
    op.create_table(
        "lead_facets",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("facet", sa.String(length=600), nullable=False),
        sa.Column("count", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_lead_facets_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "facet", name=op.f("pk_lead_facets")),
    )
    _fill_facets()

    for name in (
        "ix_leads_ws_status_created",
        "ix_leads_ws_source_created",
        "ix_leads_ws_updated",
        "ix_leads_ws_qualified",
        "ix_leads_ws_email",
        "ix_leads_ws_value",
    ):
        op.drop_index(name, table_name="leads")
    op.create_index("ix_leads_ws_status", "leads", ["workspace_id", "status", "created_at", "id"])
    op.create_index("ix_leads_ws_source", "leads", ["workspace_id", "source", "created_at", "id"])
    op.create_index(
        "ix_leads_ws_updated", "leads", ["workspace_id", "updated_at", "created_at", "id"]
    )
    op.create_index("ix_leads_ws_phone_raw", "leads", ["workspace_id", "phone"])
    for column in _PARTIAL:
        present = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"ix_leads_ws_has_{column}",
            "leads",
            ["workspace_id", "created_at", "id"],
            sqlite_where=present,
            postgresql_where=present,
        )

    nulls_first = " NULLS FIRST" if op.get_bind().dialect.name == "postgresql" else ""
    for name, column in _SORTS.items():
        op.execute(
            f"CREATE INDEX {name} ON leads (workspace_id, {column}{nulls_first}, created_at, id)"
        )
    op.execute("CREATE INDEX ix_leads_ws_email_lower ON leads (workspace_id, lower(email))")


def downgrade() -> None:
    op.drop_index("ix_leads_ws_email_lower", table_name="leads")
    for name in _SORTS:
        op.drop_index(name, table_name="leads")
    for column in _PARTIAL:
        op.drop_index(f"ix_leads_ws_has_{column}", table_name="leads")
    for name in (
        "ix_leads_ws_phone_raw",
        "ix_leads_ws_updated",
        "ix_leads_ws_source",
        "ix_leads_ws_status",
    ):
        op.drop_index(name, table_name="leads")
    op.create_index("ix_leads_ws_value", "leads", ["workspace_id", "value", "id"])
    op.create_index("ix_leads_ws_email", "leads", ["workspace_id", "email"])
    op.create_index("ix_leads_ws_qualified", "leads", ["workspace_id", "qualified_at"])
    op.create_index("ix_leads_ws_updated", "leads", ["workspace_id", "updated_at", "id"])
    op.create_index("ix_leads_ws_source_created", "leads", ["workspace_id", "source", "created_at"])
    op.create_index("ix_leads_ws_status_created", "leads", ["workspace_id", "status", "created_at"])
    op.drop_table("lead_facets")
