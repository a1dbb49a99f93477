"""search trigram index

On PostgreSQL, ``search`` (a substring of name, email or phone) is answered from a trigram index
over the expression the lead repository searches (``search_text()`` there, which must stay the
same expression). It needs the ``pg_trgm`` extension, which ships with PostgreSQL and which a
database owner may create; where it cannot be created the index is skipped with a warning and
search keeps working by reading the workspace's leads. SQLite has no such index.

Revision ID: 9d2b7e41c6a3
Revises: 5c1f0e9a7b24
Create Date: 2026-11-23 17:10:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9d2b7e41c6a3"
down_revision: str | None = "5c1f0e9a7b24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEARCH_TEXT = (
    "lower(coalesce(name, '') || E'\\t' || coalesce(email, '') || E'\\t' || "
    "coalesce(phone, '') || E'\\t' || coalesce(phone_e164, ''))"
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        logging.getLogger("alembic").warning(
            "pg_trgm is not available (%s); search will read every lead of a workspace",
            str(exc.orig).strip(),
        )
        return
    op.execute(f"CREATE INDEX ix_leads_search ON leads USING gin (({_SEARCH_TEXT}) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_leads_search")
