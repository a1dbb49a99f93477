"""`leadline doctor`: what is wrong with this installation, and what to fix."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from pydantic import ValidationError

from leadline.cli._base import app
from leadline.config import Settings


@app.command()
def doctor(
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Leadline processes (serve and worker) that share the database, for the "
            "connection check.",
        ),
    ] = 2,
) -> None:
    """Check the settings, the database and its migrations, Redis, ClickHouse, disk space and
    PostgreSQL's settings; one line per check (ok, warn or fail). Exits 1 when any fails."""
    from leadline.doctor import checks

    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            typer.echo(f"fail config: LEADLINE_{where.upper()}: {error['msg']}")
        raise typer.Exit(1) from None
    typer.echo("ok   config: the settings parse")
    findings = asyncio.run(checks.run(settings, processes=processes))
    for finding in findings:
        typer.echo(finding.line())
    if any(finding.level == "fail" for finding in findings):
        raise typer.Exit(1)
