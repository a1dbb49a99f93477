"""Workspaces, their audit chains and their billing usage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.cli._base import app, in_transaction
from leadline.config import get_settings
from leadline.models import Workspace

if TYPE_CHECKING:
    pass

T = TypeVar("T")


workspaces_app = typer.Typer(
    help="List workspaces and change their settings.", no_args_is_help=True
)
app.add_typer(workspaces_app, name="workspaces")


def _workspace_line(ws: Workspace) -> str:
    limit = "unlimited" if ws.leads_limit is None else str(ws.leads_limit)
    bulk = "yes" if ws.allow_bulk_updates else "no"
    return (
        f"{ws.slug}  name={ws.name!r}  currency={ws.default_currency}  "
        f"bulk-updates={bulk}  leads-limit={limit}  "
        f"auto-assign={'yes' if ws.auto_assign else 'no'}  "
        f"auto-reassign={ws.auto_reassign_minutes or 'off'}  erased-returns={ws.erased_returns}"
    )


@workspaces_app.command("list")
def workspaces_list() -> None:
    """List workspaces and their settings."""
    from leadline.workspaces import service as workspaces

    for ws in in_transaction(workspaces.list_workspaces):
        typer.echo(_workspace_line(ws))


@workspaces_app.command("update")
def workspaces_update(
    slug: Annotated[str, typer.Argument(help="The workspace to change.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    bulk_updates: Annotated[
        bool | None,
        typer.Option(
            "--allow-bulk-updates/--no-bulk-updates",
            help="Let PATCH /api/leads update every lead an email or phone matches.",
        ),
    ] = None,
    leads_limit: Annotated[
        int | None, typer.Option(help="Leads per month reported as the usage limit.")
    ] = None,
    unlimited: Annotated[bool, typer.Option("--unlimited", help="Remove the leads limit.")] = False,
    currency: Annotated[
        str | None, typer.Option(help="Currency for values sent without one (ISO 4217).")
    ] = None,
    auto_assign: Annotated[
        bool | None,
        typer.Option(
            "--auto-assign/--no-auto-assign",
            help="Hand new conversations round robin to the people online.",
        ),
    ] = None,
    auto_reassign_minutes: Annotated[
        int | None,
        typer.Option(help="Hand on a conversation unanswered this many minutes after assignment."),
    ] = None,
    no_auto_reassign: Annotated[
        bool, typer.Option("--no-auto-reassign", help="Never hand on unanswered conversations.")
    ] = False,
    erased_returns: Annotated[
        str | None,
        typer.Option(help="A lead from an erased person: accept (as new) or refuse."),
    ] = None,
) -> None:
    """Change a workspace's settings; options not given stay as they are."""
    from leadline.audit.service import Actor
    from leadline.workspaces import service as workspaces

    ws = in_transaction(
        lambda session: workspaces.update_workspace(
            session,
            slug,
            name=name,
            allow_bulk_updates=bulk_updates,
            leads_limit=leads_limit,
            clear_leads_limit=unlimited,
            default_currency=currency,
            auto_assign=auto_assign,
            auto_reassign_minutes=auto_reassign_minutes,
            clear_auto_reassign=no_auto_reassign,
            erased_returns=erased_returns,
            actor=Actor.cli(),
        )
    )
    typer.echo(_workspace_line(ws))


audit_app = typer.Typer(help="Check the audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    workspace: Annotated[str | None, typer.Option(help="Only this workspace's chain.")] = None,
) -> None:
    """Walk every workspace's audit chain; exit 1 naming the first broken event of each."""
    from leadline.audit import service as audit
    from leadline.workspaces import service as workspaces

    async def work(session: AsyncSession) -> tuple[audit.ChainReport, dict[str, str]]:
        workspace_id = None
        if workspace is not None:
            workspace_id = (await workspaces.require(session, workspace)).id
        report = await audit.check_chains(session, workspace_id)
        slugs = {ws.id: ws.slug for ws in await workspaces.list_workspaces(session)}
        return report, slugs

    report, slugs = in_transaction(work)
    if not report.problems:
        typer.echo(f"audit chain intact: {report.events} events in {report.workspaces} workspaces")
        return
    for problem in report.problems:
        where = f"workspace {slugs.get(problem.workspace_id, problem.workspace_id)}"
        if problem.event_id is not None:
            where += f": event {problem.event_id} (seq {problem.seq})"
        typer.echo(f"{where}: {problem.message}")
    raise typer.Exit(1)


billing_app = typer.Typer(help="What a workspace used this billing cycle.", no_args_is_help=True)
app.add_typer(billing_app, name="billing")


@billing_app.command("show")
def billing_show(workspace: Annotated[str, typer.Option(help="Workspace slug.")]) -> None:
    """The plan, the current cycle, and the workspace's usage in it (with the limits set)."""
    from leadline.billing import service as billing
    from leadline.workspaces import service as workspaces

    settings = get_settings()

    async def work(session: AsyncSession) -> billing.Subscription:
        found = await workspaces.require(session, workspace)
        return await billing.subscription(session, found.id, settings)

    found = in_transaction(work, settings)
    cycle = found.cycle
    typer.echo(
        f"plan {found.plan} (provider {found.provider}); cycle {cycle.start.isoformat()} to "
        f"{cycle.end.isoformat()} (starts on day {found.cycle_day})"
    )
    for item in found.usage:
        limit = "" if item.limit is None else f" of {item.limit}"
        typer.echo(f"{item.name:<14} {item.used}{limit}")
