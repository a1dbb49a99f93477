"""What every command group shares: the root command, failing cleanly, tables, transactions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.config import Settings, get_settings
from leadline.db import Database
from leadline.errors import LeadlineError
from leadline.kit import changes

T = TypeVar("T")

app = typer.Typer(
    help="Leadline: self-hosted lead capture, attribution and pipeline.",
    no_args_is_help=True,
    add_completion=False,
)


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        typer.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def in_transaction(
    work: Callable[[AsyncSession], Awaitable[T]], settings: Settings | None = None
) -> T:
    """Run ``work`` in one committed transaction; Leadline errors end the command cleanly."""

    async def runner() -> T:
        config = settings or get_settings()
        # Other processes' caches hear what this command changes (through Redis, if set).
        changes.configure(config.redis_url)
        db = Database(config)
        try:
            async with db.transaction() as session:
                return await work(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(runner())
    except LeadlineError as exc:
        _fail(exc.message)
        raise  # unreachable: _fail exits
