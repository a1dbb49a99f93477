"""Conversions: destinations, preflight and Google's file."""

from __future__ import annotations

import sys
import typing
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.cli._base import _fail, _table, app, in_transaction
from leadline.config import get_settings

if TYPE_CHECKING:
    pass

T = TypeVar("T")


conversions_app = typer.Typer(
    help="Send pipeline outcomes to the ad platforms: destinations, preflight, Google's file.",
    no_args_is_help=True,
)
app.add_typer(conversions_app, name="conversions")
destinations_app = typer.Typer(
    help="Add, list and remove a workspace's conversion destinations.", no_args_is_help=True
)
conversions_app.add_typer(destinations_app, name="destinations")


def _json_option(text: str, option: str) -> dict[str, typing.Any]:
    import json

    try:
        value = json.loads(text)
    except ValueError:
        _fail(f"{option} must be a JSON object")
    if not isinstance(value, dict):
        _fail(f"{option} must be a JSON object")
    found: dict[str, typing.Any] = value
    return found


@destinations_app.command("add")
def conversions_destinations_add(
    workspace: Annotated[str, typer.Option(help="Workspace slug.")],
    platform: Annotated[str, typer.Option(help="google, meta, microsoft, tiktok, ...")],
    name: Annotated[str, typer.Option(help="A name for people.")],
    settings: Annotated[
        str, typer.Option("--settings", help="The platform's settings, a JSON object.")
    ] = "{}",
    credentials: Annotated[
        str | None,
        typer.Option(
            help="The platform's secrets, a JSON object; read from standard input when left "
            "out (so they stay out of the shell's history)."
        ),
    ] = None,
    status_map: Annotated[
        str | None,
        typer.Option(help='Status to event name, a JSON object: {"won": "Purchase"}.'),
    ] = None,
) -> None:
    """Add a destination and print its id. Its settings and credentials are checked by the
    platform's rules first."""
    from leadline.audit.service import Actor
    from leadline.conversions import service as conversions
    from leadline.workspaces import service as workspaces

    given = _json_option(settings, "--settings")
    secret = _json_option(
        credentials if credentials is not None else sys.stdin.read(), "--credentials"
    )
    mapped = _json_option(status_map, "--status-map") if status_map is not None else None
    config = get_settings()

    async def work(session: AsyncSession) -> str:
        found = await workspaces.require(session, workspace)
        created = await conversions.create_destination(
            session,
            found.id,
            Actor.cli(),
            config,
            platform=platform,
            name=name,
            destination_settings=given,
            credentials=secret,
            status_map=mapped,
        )
        return created.id

    typer.echo(in_transaction(work, config))


@destinations_app.command("list")
def conversions_destinations_list(
    workspace: Annotated[str, typer.Option(help="Workspace slug.")],
) -> None:
    """List the workspace's destinations: id, platform, name, enabled, status map (never
    their credentials)."""
    import json

    from leadline.conversions import service as conversions
    from leadline.workspaces import service as workspaces

    async def work(session: AsyncSession) -> list[tuple[str, ...]]:
        found = await workspaces.require(session, workspace)
        listed = await conversions.list_destinations(session, found.id)
        return [
            (
                item.id,
                item.platform,
                item.name,
                "enabled" if item.enabled else "disabled",
                json.dumps(conversions.status_map_of(item), sort_keys=True),
            )
            for item in listed.destinations
        ]

    rows = in_transaction(work)
    if not rows:
        typer.echo("no destinations", err=True)
        return
    _table(("id", "platform", "name", "state", "status map"), rows)


@destinations_app.command("remove")
def conversions_destinations_remove(
    destination_id: Annotated[str, typer.Argument(help="The destination's id (cvd_...).")],
    workspace: Annotated[str, typer.Option(help="Workspace slug.")],
) -> None:
    """Remove a destination and the record of its uploads."""
    from leadline.audit.service import Actor
    from leadline.conversions import service as conversions
    from leadline.workspaces import service as workspaces

    async def work(session: AsyncSession) -> None:
        found = await workspaces.require(session, workspace)
        await conversions.delete_destination(session, found.id, Actor.cli(), destination_id)

    in_transaction(work)
    typer.echo(f"Removed destination {destination_id}.")


@conversions_app.command("preflight")
def conversions_preflight(
    lead: Annotated[str, typer.Option(help="The lead's id.")],
    workspace: Annotated[
        str | None, typer.Option(help="Workspace slug; found from the lead when left out.")
    ] = None,
) -> None:
    """For the lead's current status, every platform it could reach: eligible, or blocked
    with every reason that applies; then the uploads made for it so far."""
    from leadline.conversions import service as conversions
    from leadline.workspaces import service as workspaces

    async def work(session: AsyncSession) -> list[str]:
        if workspace is not None:
            workspace_id = (await workspaces.require(session, workspace)).id
        else:
            workspace_id = await conversions.workspace_of_lead(session, lead)
        found = await conversions.lead_conversions(session, workspace_id, lead)
        lines = [f"lead {found.lead.id}  status {found.status}"]
        for check in found.checks:
            where = check.destination_name or "(no destination)"
            why = f"  {', '.join(check.reasons)}" if check.reasons else ""
            lines.append(f"{check.platform:<10} {where:<24} {check.state}{why}")
        for upload in found.uploads:
            detail = upload.reasons or upload.error_code or ""
            line = f"upload {upload.status:<9} {upload.destination_id}  {upload.state}  {detail}"
            lines.append(line.rstrip())
        return lines

    for line in in_transaction(work):
        typer.echo(line)


@conversions_app.command("export")
def conversions_export(
    workspace: Annotated[str, typer.Option(help="Workspace slug.")],
    first: Annotated[str, typer.Option("--from", help="The first day (YYYY-MM-DD).")],
    last: Annotated[str, typer.Option("--to", help="The last day, included.")],
    platform: Annotated[str, typer.Option(help="The platform whose file to make: google.")],
    timezone: Annotated[
        str, typer.Option(help="The file's time zone (IANA name); the days are its days.")
    ] = "UTC",
) -> None:
    """Write Google's offline-conversion CSV to standard output: one row per lead that reached
    qualified or won in the days given and carries a gclid. Needs no destination and no
    credentials."""
    from leadline.conversions import service as conversions
    from leadline.workspaces import service as workspaces

    async def work(session: AsyncSession) -> list[str]:
        span = conversions.export_range(platform, first, last, timezone)
        found = await workspaces.require(session, workspace)
        return list(await conversions.offline_csv(session, found.id, span))

    typer.echo("".join(in_transaction(work)), nl=False)
