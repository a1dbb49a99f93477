"""Submissions' source, their index for the lead reports, and their quarter-hour rollups

Revision ID: d4a7b9c3e1f5
Revises: c2e8f4a6b0d1
Create Date: 2026-12-07 05:30:00.000000

Existing submissions get their source from their SOURCE field (what their visits said is not
looked up here), and the rollups are filled from them, so the reports count the past too.
"""

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import leadline.models.base

revision: str = "d4a7b9c3e1f5"
down_revision: str | None = "c2e8f4a6b0d1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As leadline.forms.capture.SUSPICIOUS_FROM when this was written.
_SUSPICIOUS_FROM = 40
_QUARTER = 15


def upgrade() -> None:
    with op.batch_alter_table("lead_submissions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=100), server_default="", nullable=False)
        )
        batch_op.create_index(
            "ix_lead_submissions_ws_created", ["workspace_id", "created_at", "id"], unique=False
        )
    op.create_table(
        "submission_rollups",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("bucket", leadline.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("project", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("engagement_label", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("suspicious", sa.Boolean(), nullable=False),
        sa.Column("submissions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("engaged", sa.Integer(), server_default="0", nullable=False),
        sa.Column("engagement_total", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("suspicion_total", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_submission_rollups_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id",
            "bucket",
            "site_id",
            "project",
            "source",
            "engagement_label",
            "outcome",
            "suspicious",
            name=op.f("pk_submission_rollups"),
        ),
    )
    _fill()


def _fill() -> None:
    """Sources from the SOURCE field, then the rollups of every submission there is."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        field = "left(btrim(coalesce(fields::json->>'SOURCE', '')), 100)"
    else:
        field = "substr(trim(coalesce(json_extract(fields, '$.SOURCE'), '')), 1, 100)"
    # A submission whose fields are not JSON (none should be) keeps "".
    valid = "fields LIKE '{%'" if bind.dialect.name == "postgresql" else "json_valid(fields)"
    op.execute(f"UPDATE lead_submissions SET source = {field} WHERE {valid}")  # noqa: S608
    counts: Counter[tuple[Any, ...]] = Counter()
    sums: dict[tuple[Any, ...], list[int]] = {}
    rows = bind.execute(
        sa.text(
            "SELECT workspace_id, created_at, site_id, project, source, engagement_label,"
            " outcome, suspicion_score, engagement_score FROM lead_submissions"
        )
    )
    for row in rows:
        created = _utc(row.created_at)
        bucket = created.replace(
            minute=created.minute - created.minute % _QUARTER, second=0, microsecond=0
        )
        key = (
            row.workspace_id,
            bucket,
            row.site_id or "",
            row.project or "",
            row.source or "",
            row.engagement_label or "",
            row.outcome,
            (row.suspicion_score or 0) >= _SUSPICIOUS_FROM,
        )
        counts[key] += 1
        total = sums.setdefault(key, [0, 0, 0])
        if row.engagement_score is not None:
            total[0] += 1
            total[1] += row.engagement_score
        total[2] += row.suspicion_score or 0
    table = sa.table(
        "submission_rollups",
        sa.column("bucket", leadline.models.base.UTCDateTime(timezone=True)),
        *(
            sa.column(name)
            for name in (
                "workspace_id",
                "site_id",
                "project",
                "source",
                "engagement_label",
                "outcome",
                "suspicious",
                "submissions",
                "engaged",
                "engagement_total",
                "suspicion_total",
            )
        ),
    )
    values = [
        {
            "workspace_id": key[0],
            "bucket": key[1],
            "site_id": key[2],
            "project": key[3],
            "source": key[4],
            "engagement_label": key[5],
            "outcome": key[6],
            "suspicious": key[7],
            "submissions": count,
            "engaged": sums[key][0],
            "engagement_total": sums[key][1],
            "suspicion_total": sums[key][2],
        }
        for key, count in counts.items()
    ]
    for start in range(0, len(values), 1000):
        op.bulk_insert(table, values[start : start + 1000])


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
    return value.astimezone(UTC)  # type: ignore[no-any-return]


def downgrade() -> None:
    op.drop_table("submission_rollups")
    with op.batch_alter_table("lead_submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_submissions_ws_created")
        batch_op.drop_column("source")
