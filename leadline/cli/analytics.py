"""Analytics: anomalies and raw exports."""

from __future__ import annotations

import asyncio
import sys
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from leadline.cli._base import _fail, app
from leadline.config import get_settings
from leadline.db import Database
from leadline.errors import LeadlineError

if TYPE_CHECKING:
    pass

T = TypeVar("T")


anomalies_app = typer.Typer(
    help="Find anomalies in traffic, submissions and tracking.", no_args_is_help=True
)
app.add_typer(anomalies_app, name="anomalies")


@anomalies_app.command("check")
def anomalies_check(
    workspace: Annotated[
        str | None, typer.Option(help="Only this workspace (slug); every open one without it.")
    ] = None,
) -> None:
    """Judge the hour that just ended on every site now, as the hourly job does, and print
    each anomaly found: detected (new, webhook sent), ongoing (still open) or resolved."""
    from leadline.analytics.anomalies_service import check

    async def run() -> list[str]:
        settings = get_settings()
        db = Database(settings)
        try:
            changes = await check(db, workspace_slug=workspace)
        finally:
            await db.dispose()
        return [
            f"{change.outcome:<8}  {change.anomaly.severity:<8}  {change.anomaly.kind:<19}  "
            f"{change.workspace_slug}  {change.site_label}  {change.anomaly.sentence}"
            for change in changes
        ]

    try:
        lines = asyncio.run(run())
    except LeadlineError as exc:
        _fail(exc.message)
        return
    for line in lines:
        typer.echo(line)
    if not lines:
        typer.echo("no anomalies", err=True)


@app.command("export")
def export(
    kind: Annotated[str, typer.Argument(help="events, visits or leads.")],
    workspace: Annotated[str, typer.Option(help="Workspace slug (it must exist).")],
    from_: Annotated[
        str | None, typer.Option("--from", help="First day (YYYY-MM-DD); 30 days ago by default.")
    ] = None,
    to: Annotated[str | None, typer.Option(help="Last day, included; today by default.")] = None,
    tz: Annotated[str | None, typer.Option(help="Time zone of the days (IANA); UTC.")] = None,
    site: Annotated[str | None, typer.Option(help="Only this site (its id or key).")] = None,
    format_: Annotated[str, typer.Option("--format", help="csv or ndjson.")] = "csv",
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output.")
    ] = None,
) -> None:
    """Export a workspace's raw events, visits or leads of a period, with personal data (see
    docs/api/analytics.md for the columns). Rows stream out a page at a time; a progress bar
    goes to standard error."""
    from leadline.analytics import export as exports
    from leadline.clickhouse.source import ClickHouseSource
    from leadline.kit.periods import parse_period
    from leadline.workspaces import service as workspaces

    settings = get_settings()
    try:
        kind, fmt = exports.parse_kind(kind), exports.parse_format(format_)
    except LeadlineError as exc:
        _fail(exc.message)

    async def run(target: typing.BinaryIO) -> None:
        db = Database(settings)
        # With ClickHouse the events are read there (docs/clickhouse.md).
        source = (
            ClickHouseSource(settings.clickhouse_url)
            if settings.clickhouse_url and kind == "events"
            else None
        )
        try:
            clickhouse = await source.client() if source is not None else None
            async with db.transaction() as session:
                ws = await workspaces.require(session, workspace)
                spec = exports.ExportSpec(
                    workspace_id=ws.id,
                    kind=kind,
                    site_ids=await exports.sites_to_export(session, ws.id, site),
                    period=parse_period(from_, to, tz),
                    site_named=bool(site),
                )
            total = await exports.count_rows(db, spec, clickhouse)
            with typer.progressbar(
                length=total, label=f"exporting {spec.kind}", file=sys.stderr
            ) as bar:
                async for chunk in exports.stream(
                    db, spec, fmt, on_rows=bar.update, clickhouse=clickhouse
                ):
                    target.write(chunk)
            target.flush()
        finally:
            if source is not None:
                source.close()
            await db.dispose()

    try:
        if output is None:
            asyncio.run(run(sys.stdout.buffer))
        else:
            with output.open("wb") as target:
                asyncio.run(run(target))
    except LeadlineError as exc:
        _fail(exc.message)


# ------------------------------------------------------------------------------ conversions
