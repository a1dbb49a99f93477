"""Hours as reports count them: UTC, each named by the moment it starts, and the SQL that
buckets a timestamp column into them on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal_column

HOUR = timedelta(hours=1)


def floor_hour(moment: datetime) -> datetime:
    """The start of the UTC hour ``moment`` falls in (aware)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_bucket(column: Any, dialect: str) -> Any:
    """An SQL expression naming the UTC hour of ``column`` as text ``YYYY-MM-DD HH``.

    SQLite keeps timestamps as naive UTC text, PostgreSQL as ``timestamptz``: each is
    formatted in UTC so the same text comes back from both (see :func:`parse_bucket`)."""
    if dialect == "postgresql":
        return func.to_char(column.op("AT TIME ZONE")(literal_column("'UTC'")), "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", column)


def parse_bucket(text: str) -> datetime:
    """The aware UTC start of the hour :func:`hour_bucket` named ``text``."""
    return datetime.strptime(text, "%Y-%m-%d %H").replace(tzinfo=UTC)
