"""Privacy: retention periods, and applying them now or seeing what they would remove."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.cli._base import _fail
from leadline.cli.privacy import privacy_app
from leadline.config import get_settings
from leadline.db import Database
from leadline.errors import LeadlineError
from leadline.kit import changes

if TYPE_CHECKING:
    from leadline.privacy.retention import ClassPreview, RunReport


def _preview_lines(slug: str, found: list[ClassPreview]) -> list[str]:
    lines = [f"workspace {slug}"]
    for one in found:
        if one.days is None:
            lines.append(f"{one.name}: kept forever")
        else:
            lines.append(f"{one.name}: {one.rows} to remove (older than {one.days} days)")
    return lines


def _run_lines(slug: str, report: RunReport) -> list[str]:
    from leadline.privacy.retention import SHOWN

    lines = [f"workspace {slug}: run {report.run_id}"]
    for name in SHOWN:
        if name not in report.cutoffs:
            lines.append(f"{name}: kept forever")
            continue
        line = f"{name}: {report.counts.get(name, 0)} removed"
        if name == "visits":
            line += f", {report.counts.get('visits_anonymised', 0)} anonymised"
        lines.append(line)
    if "clickhouse.events" in report.counts or "clickhouse.visits" in report.counts:
        lines.append(f"clickhouse events: {report.counts.get('clickhouse.events', 0)} removed")
        lines.append(
            f"clickhouse visits: {report.counts.get('clickhouse.visits', 0)} removed, "
            f"{report.counts.get('clickhouse.visits_anonymised', 0)} anonymised"
        )
    return lines


@privacy_app.command("retention")
def privacy_retention(
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Only print, per class, how many rows would go today."),
    ] = False,
    workspace: Annotated[
        str | None,
        typer.Option(
            help="Only this workspace (slug). Default: every workspace (for a run, those with "
            "a period set)."
        ),
    ] = None,
) -> None:
    """Apply the workspaces' retention periods now, or with --dry-run count what would go."""
    from leadline.privacy import retention
    from leadline.workspaces import service as workspaces

    settings = get_settings()

    async def run() -> list[str]:
        changes.configure(settings.redis_url)
        db = Database(settings)
        lines: list[str] = []
        try:
            async with db.transaction() as session:
                if workspace is not None:
                    found = await workspaces.require(session, workspace)
                    targets = [(found.id, found.slug)]
                elif dry_run:
                    targets = [(w.id, w.slug) for w in await workspaces.list_workspaces(session)]
                else:
                    ids = set(await retention.workspaces_to_run(session))
                    targets = [
                        (w.id, w.slug)
                        for w in await workspaces.list_workspaces(session)
                        if w.id in ids
                    ]
            for workspace_id, slug in targets:
                if dry_run:
                    async with db.transaction() as session:
                        found_classes = await retention.preview(
                            session,
                            workspace_id,
                            events_default_days=settings.events_retention_days,
                        )
                    lines += _preview_lines(slug, found_classes)
                else:
                    async with retention.clickhouse_of(settings) as clickhouse:
                        report = await retention.apply_retention(
                            db,
                            workspace_id,
                            trigger="cli",
                            events_default_days=settings.events_retention_days,
                            clickhouse=clickhouse,
                        )
                    lines += _run_lines(slug, report)
        finally:
            await db.dispose()
        return lines

    try:
        lines = asyncio.run(run())
    except LeadlineError as exc:
        _fail(exc.message)
        return
    for line in lines:
        typer.echo(line)


@privacy_app.command("retention-periods")
def privacy_retention_periods(
    workspace: Annotated[str, typer.Option(help="The workspace (slug).")],
    periods: Annotated[
        list[str] | None,
        typer.Argument(
            help="CLASS=DAYS to set a period, CLASS=forever to unset it; none: show them."
        ),
    ] = None,
) -> None:
    """Show or set a workspace's retention periods (one line per class: CLASS DAYS|forever)."""
    from leadline.audit.service import Actor
    from leadline.cli._base import in_transaction
    from leadline.privacy import retention
    from leadline.workspaces import service as workspaces

    wanted: dict[str, int | None] = {}
    for item in periods or []:
        name, equals, value = item.partition("=")
        if not equals:
            _fail(f"expected CLASS=DAYS or CLASS=forever, got '{item}'")
        if value == "forever":
            wanted[name] = None
        elif value.isdigit():
            wanted[name] = int(value)
        else:
            _fail(f"{name}: expected a number of days or 'forever', got '{value}'")

    async def work(session: AsyncSession) -> dict[str, int]:
        found = await workspaces.require(session, workspace)
        if wanted:
            return await retention.set_periods(session, found.id, wanted, actor=Actor.cli())
        return await retention.periods_of(session, found.id)

    result = in_transaction(work)
    for name in retention.SHOWN:
        typer.echo(f"{name} {result.get(name, 'forever')}")
