"""The engine Leadline builds for each database."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from leadline.config import Settings
from leadline.db import Database


def _scalar(settings: Settings, sql: str) -> object:
    async def run() -> object:
        db = Database(settings)
        try:
            async with db.transaction() as session:
                return (await session.execute(text(sql))).scalar_one()
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_connection_settings(settings: Settings) -> None:
    if settings.is_sqlite:
        assert str(_scalar(settings, "PRAGMA journal_mode")).lower() == "wal"
        assert _scalar(settings, "PRAGMA foreign_keys") == 1
        assert _scalar(settings, "PRAGMA synchronous") == 1  # NORMAL
    else:
        # List queries are planned for each request's own filter values.
        assert _scalar(settings, "SHOW plan_cache_mode") == "force_custom_plan"
