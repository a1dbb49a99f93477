"""Submissions' source, their index for the lead reports, and their rollups by quarter hour
and by day

Revision ID: d4a7b9c3e1f5
Revises: d4a9b2c6e8f1
Create Date: 2026-12-07 05:30:00.000000

Existing submissions get their source from their SOURCE field (what their visits said is not
looked up here), and the rollups are filled from them, so the reports count the past too.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import leadline.models.base

revision: str = "d4a7b9c3e1f5"
down_revision: str | None = "d4a9b2c6e8f1"
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
    for table, when in (
        ("submission_rollups", sa.Column("bucket", UTC_TIME, nullable=False)),
        ("submission_days", sa.Column("day", sa.Date(), nullable=False)),
    ):
        op.create_table(
            table,
            sa.Column("workspace_id", sa.String(length=40), nullable=False),
            when,
            *_counts(),
            sa.ForeignKeyConstraint(
                ["workspace_id"],
                ["workspaces.id"],
                name=op.f(f"fk_{table}_workspace_id_workspaces"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint(
                "workspace_id",
                when.name,
                *_KEY,
                name=op.f(f"pk_{table}"),
            ),
            sqlite_with_rowid=False,
        )
    _fill()


UTC_TIME = leadline.models.base.UTCDateTime(timezone=True)
_KEY = ("site_id", "project", "source", "engagement_label", "suspicious", "whole")
_SUMS = (
    "submissions",
    "created",
    "merged",
    "kept_aside",
    "engaged",
    "engagement_total",
    "suspicion_total",
)
_COUNTED = ("created", "merged", "kept_aside")


def _counts() -> list[sa.Column[Any]]:
    return [
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("project", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("engagement_label", sa.String(length=16), nullable=False),
        sa.Column("suspicious", sa.Boolean(), nullable=False),
        sa.Column("whole", sa.Boolean(), nullable=False),
        *(
            sa.Column(
                name,
                sa.BigInteger() if name.endswith("_total") else sa.Integer(),
                server_default="0",
                nullable=False,
            )
            for name in _SUMS
        ),
    ]


def _fill() -> None:
    """Sources from the SOURCE field, then the rollups of every submission there is."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        field = "left(btrim(coalesce(fields::json->>'SOURCE', '')), 100)"
        valid = "fields LIKE '{%'"
    else:
        field = "substr(trim(coalesce(json_extract(fields, '$.SOURCE'), '')), 1, 100)"
        valid = "json_valid(fields)"
    # A submission whose fields are not a JSON object (none should be) keeps "".
    op.execute(f"UPDATE lead_submissions SET source = {field} WHERE {valid}")  # noqa: S608
    quarters: dict[tuple[Any, ...], list[int]] = {}
    days: dict[tuple[Any, ...], list[int]] = {}
    rows = bind.execute(
        sa.text(
            "SELECT workspace_id, created_at, site_id, project, source, engagement_label,"
            " outcome, suspicion_score, engagement_score FROM lead_submissions"
        )
    )
    for row in rows:
        if row.outcome not in _COUNTED:
            continue
        created = _utc(row.created_at)
        bucket = created.replace(
            minute=created.minute - created.minute % _QUARTER, second=0, microsecond=0
        )
        suspicious = (row.suspicion_score or 0) >= _SUSPICIOUS_FROM
        keys = (
            (
                row.site_id or "",
                row.project or "",
                row.source or "",
                row.engagement_label or "",
                suspicious,
                False,
            ),
            (row.site_id or "", "", "", "", suspicious, True),
        )
        added = [
            1,
            int(row.outcome == "created"),
            int(row.outcome == "merged"),
            int(row.outcome == "kept_aside"),
            int(row.engagement_score is not None),
            row.engagement_score or 0,
            row.suspicion_score or 0,
        ]
        for found, moment in ((quarters, bucket), (days, bucket.date())):
            for key in keys:
                total = found.setdefault((row.workspace_id, moment, *key), [0] * len(_SUMS))
                for n, value in enumerate(added):
                    total[n] += value
    timed: tuple[tuple[str, sa.ColumnClause[Any], dict[tuple[Any, ...], list[int]]], ...] = (
        ("submission_rollups", sa.column("bucket", UTC_TIME), quarters),
        ("submission_days", sa.column("day", sa.Date()), days),
    )
    for table, column, found in timed:
        target = sa.table(
            table, sa.column("workspace_id"), column, *(sa.column(c) for c in (*_KEY, *_SUMS))
        )
        values = [
            dict(zip(("workspace_id", column.name, *_KEY, *_SUMS), (*key, *sums), strict=True))
            for key, sums in found.items()
        ]
        for start in range(0, len(values), 1000):
            op.bulk_insert(target, values[start : start + 1000])


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
    return value.astimezone(UTC)  # type: ignore[no-any-return]


def downgrade() -> None:
    op.drop_table("submission_days")
    op.drop_table("submission_rollups")
    with op.batch_alter_table("lead_submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_submissions_ws_created")
        batch_op.drop_column("source")
