"""The statements the checks read with: the migration state and PostgreSQL's settings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

# The multiple of each unit pg_settings reports memory in.
_UNITS = {"B": 1, "kB": 1024, "8kB": 8192, "16kB": 16384, "MB": 1024**2, "GB": 1024**3}


@dataclass(frozen=True, slots=True)
class PgSetting:
    name: str
    setting: str
    unit: str | None

    @property
    def bytes(self) -> int | None:
        """A memory or size setting's value in bytes; None for other settings."""
        if self.unit not in _UNITS or not self.setting.lstrip("-").isdigit():
            return None
        return int(self.setting) * _UNITS[self.unit]


def _revisions(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


async def current_revisions(connection: AsyncConnection) -> tuple[str, ...]:
    """The revisions the database is at (none for a database never migrated)."""
    return await connection.run_sync(_revisions)


async def postgres_settings(
    connection: AsyncConnection, names: Iterable[str]
) -> dict[str, PgSetting]:
    rows = await connection.execute(
        text("SELECT name, setting, unit FROM pg_settings WHERE name = ANY(:names)"),
        {"names": list(names)},
    )
    return {row.name: PgSetting(row.name, row.setting, row.unit) for row in rows}


async def postgres_connections(connection: AsyncConnection) -> int:
    """Connections open to the server now, of every database."""
    return int(
        (await connection.execute(text("SELECT count(*) FROM pg_stat_activity"))).scalar_one()
    )
