"""Loading data: leads and ad spend from files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from leadline.cli._base import _fail, app, in_transaction
from leadline.config import get_settings
from leadline.db import Database
from leadline.errors import LeadlineError

if TYPE_CHECKING:
    from leadline.leads.imports import ImportOptions, ImportResult

T = TypeVar("T")


ad_spend_app = typer.Typer(help="Load daily ad spend.", no_args_is_help=True)
app.add_typer(ad_spend_app, name="ad-spend")
leads_app = typer.Typer(help="Import leads from CSV and Excel files.", no_args_is_help=True)
app.add_typer(leads_app, name="leads")


@ad_spend_app.command("import")
def ad_spend_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with columns date, platform, campaign_id, campaign_name, spend, currency, "
            "clicks, impressions (camelCase names work too).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    workspace: Annotated[str, typer.Option(help="Slug of the workspace to load into.")] = "default",
) -> None:
    """Import daily spend from a CSV file: all rows or none. A day, platform and campaign
    already stored is replaced, never doubled."""
    from leadline.adspend import service as adspend

    def progress(rows: int) -> None:
        typer.echo(f"{rows} rows read", err=True)

    with file.open(encoding="utf-8-sig", newline="") as stream:
        result = in_transaction(
            lambda session: adspend.import_csv_for(session, workspace, stream, progress=progress)
        )
    typer.echo(
        f"imported {result.rows} rows into workspace '{workspace}': "
        f"{result.inserted} inserted, {result.replaced} replaced"
    )


def _pairs(given: list[str] | None, option: str, example: str) -> dict[str, str]:
    """``--map "Column=field"`` options as a mapping (split at the last ``=``, as headers may
    contain one and field names never do)."""
    pairs: dict[str, str] = {}
    for item in given or ():
        key, sep, value = item.rpartition("=")
        if not sep or not key.strip():
            _fail(f"{option} takes KEY=VALUE, as in {option} {example!r}; not {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


@leads_app.command("import")
def leads_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="A CSV file (UTF-8; comma, semicolon or tab) or an Excel workbook (.xlsx).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    workspace: Annotated[str, typer.Option(help="Slug of the workspace to import into.")],
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="'Column Header=field': the field a column fills ('-' leaves it out). Repeat "
            "for several.",
        ),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            help="'File value=status': read a value of the status column as open, qualified, "
            "won or lost. Repeat for several."
        ),
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the valid rows; list the others.")
    ] = False,
    sheet: Annotated[
        str | None, typer.Option(help="The workbook's sheet to read (default: the first).")
    ] = None,
    webhooks: Annotated[
        bool,
        typer.Option(
            "--webhooks/--no-webhooks",
            help="Send each created lead's lead.created webhook event (--no-webhooks for "
            "leads your other systems have already).",
        ),
    ] = True,
) -> None:
    """Import leads from a CSV file or an Excel workbook: every row is checked before any is
    written, and one invalid row refuses the file unless --skip-invalid. Rows imported before
    are counted as duplicates and not created again."""
    from leadline.leads import imports

    options = imports.ImportOptions(
        mapping=_pairs(map_, "--map", "E-mail address=email"),
        status_mapping=_pairs(status, "--status", "Converted Leads=won"),
        skip_invalid=skip_invalid,
        sheet=sheet,
        webhooks=webhooks,
    )
    try:
        result = _import_with_progress(file, workspace, options)
    except imports.RowsRejected as exc:
        _refuse_file(exc.result)
        raise  # unreachable: _refuse_file exits
    except LeadlineError as exc:
        _fail(exc.message)
        raise  # unreachable: _fail exits
    _report_import(result, workspace)


def _import_with_progress(file: Path, workspace: str, options: ImportOptions) -> ImportResult:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from leadline.leads import imports

    bar = Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    tasks: dict[str, TaskID] = {}

    def progress(phase: str, done: int, total: int | None) -> None:
        # One line per phase (validating, then writing), each with its own clock.
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done, total=total)

    async def run() -> ImportResult:
        db = Database(get_settings())
        try:
            with file.open("rb") as stream:
                return await imports.import_file_for(
                    db,
                    workspace,
                    stream,
                    filename=file.name,
                    options=options,
                    progress=progress,
                )
        finally:
            await db.dispose()

    with bar:
        return asyncio.run(run())


def _refuse_file(rejected: ImportResult) -> None:
    for error in rejected.rejected:
        typer.echo(error.describe(), err=True)
    more = rejected.invalid - len(rejected.rejected)
    if more:
        typer.echo(f"... and {more} more invalid rows", err=True)
    _fail(
        f"nothing was imported: {rejected.invalid} of {rejected.rows} rows are invalid; "
        "correct them, or pass --skip-invalid to import the valid rows alone"
    )


def _report_import(result: ImportResult, workspace: str) -> None:
    for error in result.rejected:
        typer.echo(f"skipped {error.describe()}", err=True)
    if result.invalid > len(result.rejected):
        typer.echo(f"... and {result.invalid - len(result.rejected)} more", err=True)
    if result.custom_columns:
        kept = ", ".join(f"'{column}'" for column in result.custom_columns)
        typer.echo(f"columns kept in each lead's custom data: {kept}", err=True)
    typer.echo(
        f"imported {result.rows} leads into workspace '{workspace}': {result.created} created, "
        f"{result.duplicates} duplicates, {result.invalid} invalid"
    )
