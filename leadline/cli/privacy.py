"""A data subject's requests from the command line: erasing a person, exporting what is held
about them."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.cli._base import _fail, _table, app, in_transaction
from leadline.config import get_settings
from leadline.db import Database
from leadline.errors import LeadlineError
from leadline.kit.time import iso_millis

if TYPE_CHECKING:
    from leadline.privacy.service import Receipt

privacy_app = typer.Typer(
    help="Privacy: erase a person, export what is held about them, retention periods.",
    no_args_is_help=True,
)
app.add_typer(privacy_app, name="privacy")

Workspace = Annotated[str, typer.Option(help="Slug of the workspace.")]
Email = Annotated[str | None, typer.Option(help="The person's email address.")]
Phone = Annotated[str | None, typer.Option(help="The person's phone number.")]


@privacy_app.command("erase")
def erase(workspace: Workspace, email: Email = None, phone: Phone = None) -> None:
    """Erase a person (by email and/or phone) from every table that holds personal data, in
    one transaction, and print the receipt."""
    from leadline.audit.service import Actor
    from leadline.clickhouse.source import ClickHouseSource
    from leadline.privacy import service as privacy
    from leadline.workspaces import service as workspaces

    if not email and not phone:
        _fail("name the person: --email and/or --phone")

    # With ClickHouse the person's events and visits' starts are erased there too.
    url = get_settings().clickhouse_url
    source = ClickHouseSource(url) if url else None

    async def work(session: AsyncSession) -> privacy.Receipt:
        ws = await workspaces.require(session, workspace)
        return await privacy.request_erasure(
            session,
            ws.id,
            Actor.cli(),
            emails=[email] if email else [],
            phones=[phone] if phone else [],
            clickhouse=await source.client() if source is not None else None,
        )

    try:
        receipt = in_transaction(work)
    finally:
        if source is not None:
            source.close()
    if receipt.state == "running":
        # Too large for one transaction: carried on here, a batch per transaction (a job
        # was queued too; whichever runs a batch first does it).
        typer.echo(f"erasure {receipt.id} is large: erasing in batches", err=True)
        receipt = _carry_on(receipt)
    typer.echo(f"erasure {receipt.id} in workspace '{workspace}'")
    typer.echo(f"erased at: {iso_millis(receipt.erased_at)}")
    typer.echo(f"by: {receipt.actor.type}" + (f" {receipt.actor.id}" if receipt.actor.id else ""))
    matched = "  ".join(f"{key}={value}" for key, value in receipt.matched.items())
    typer.echo(f"matched: {matched}")
    _table(("table", "rows"), [(name, str(n)) for name, n in receipt.counts.items()])
    typer.echo(f"receipt hash: {receipt.receipt_hash}")


def _carry_on(started: Receipt) -> Receipt:
    from leadline.privacy import service as privacy
    from leadline.privacy.tasks import carry_on

    async def run() -> Receipt:
        db = Database(get_settings())
        try:
            await carry_on(db, started.id)
            async with db.transaction() as session:
                return await privacy.receipt(session, started.workspace_id, started.id)
        finally:
            await db.dispose()

    return asyncio.run(run())


@privacy_app.command("export")
def export(
    workspace: Workspace,
    email: Email = None,
    phone: Phone = None,
    format: Annotated[str, typer.Option(help="json (one document) or html (a page).")] = "json",
    output: Annotated[
        Path | None, typer.Option(help="Write to this file (default: standard output).")
    ] = None,
) -> None:
    """Export everything held about a person (by email and/or phone) from every table that
    holds personal data, written as it is read. The export is recorded in the audit log."""
    if not email and not phone:
        _fail("name the person: --email and/or --phone")
    try:
        if output is None:
            asyncio.run(_export(sys.stdout, workspace, email, phone, format))
        else:
            with output.open("w", encoding="utf-8") as stream:
                asyncio.run(_export(stream, workspace, email, phone, format))
            typer.echo(f"exported to {output}", err=True)
    except LeadlineError as exc:
        if output is not None:
            output.unlink(missing_ok=True)
        _fail(exc.message)


async def _export(
    stream: TextIO, workspace: str, email: str | None, phone: str | None, format: str
) -> None:
    from leadline.audit.service import Actor
    from leadline.clickhouse.source import ClickHouseSource
    from leadline.privacy import export as exports
    from leadline.workspaces import service as workspaces

    settings = get_settings()
    db = Database(settings)
    # With ClickHouse the person's events and visits' starts are read there too.
    source = ClickHouseSource(settings.clickhouse_url) if settings.clickhouse_url else None
    try:
        clickhouse = await source.client() if source is not None else None
        async with db.transaction() as session:
            ws = await workspaces.require(session, workspace)
            started = await exports.start(
                session,
                ws.id,
                Actor.cli(),
                emails=[email] if email else [],
                phones=[phone] if phone else [],
                format=format,
            )
            async for piece in exports.write(session, started, clickhouse):
                stream.write(piece)
    finally:
        if source is not None:
            source.close()
        await db.dispose()
