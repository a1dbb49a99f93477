"""The consent ledger keeps only changes: each visit's first entry is read from its row

Revision ID: e3b8f1a6c9d4
Revises: d9e4a1c7b3f2
Create Date: 2026-12-07 16:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e3b8f1a6c9d4"
down_revision: str | None = "d9e4a1c7b3f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The flags as the writer wrote them: a JSON object of the known ones, keys sorted.
_FLAGS = (
    "'{' || substr("
    + " || ".join(
        f"CASE WHEN v.{name} IS NULL THEN '' WHEN v.{name} THEN ',\"{name}\"\\:true'"
        f" ELSE ',\"{name}\"\\:false' END"
        for name in ("ad_personalization", "ad_storage", "ad_user_data", "analytics_storage")
    )
    + ", 2) || '}'"
)


def upgrade() -> None:
    # A visit's start entry is the one the writer added with the visit: no lead, and the
    # visit's start as its time (a change is always later: it needs the visit's id first).
    op.execute(
        "DELETE FROM consent_changes WHERE lead_id IS NULL AND visit_id IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM visits v WHERE v.id = consent_changes.visit_id"
        " AND v.workspace_id = consent_changes.workspace_id"
        " AND v.started_at = consent_changes.occurred_at)"
    )


def downgrade() -> None:
    # Each tracked visit's start entry again, from its row (ids made from the visit's).
    columns = "id, workspace_id, site_id, visit_id, visitor_id, lead_id, source, flags, occurred_at"
    values = (
        "'cns_v' || substr(replace(v.id, '-', ''), 1, 32), v.workspace_id, v.site_id, v.id,"
        f" v.visitor_id, NULL, COALESCE(v.consent_source, 'none'), {_FLAGS}, v.started_at"
    )
    statement = f"INSERT INTO consent_changes ({columns}) SELECT {values}"
    op.execute(sa.text(statement + " FROM visits v WHERE v.site_id IS NOT NULL"))
