"""Sites, their forms, and the IP lists."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from leadline.cli._base import _fail, app, in_transaction
from leadline.config import get_settings
from leadline.db import Database
from leadline.models import Site

if TYPE_CHECKING:
    pass

T = TypeVar("T")


sites_app = typer.Typer(help="Create, change and list tracked sites.", no_args_is_help=True)
_DNT_HELP = "Treat a browser sending Do Not Track as refusing all consent."
_GPC_HELP = "Treat a browser sending Global Privacy Control as refusing the ad consent flags."
_FINGERPRINT_HELP = (
    "Let the tracker's fingerprint (sent only with analytics consent) identify visitor and device."
)
app.add_typer(sites_app, name="sites")
forms_app = typer.Typer(help="Create and list the forms of a site.", no_args_is_help=True)
app.add_typer(forms_app, name="forms")
ips_app = typer.Typer(
    help="The addresses whose form submissions are blocked, or are the team's own (allowed).",
    no_args_is_help=True,
)
app.add_typer(ips_app, name="ips")


@sites_app.command("create")
def sites_create(
    workspace: Annotated[str, typer.Option(help="Workspace slug (created if missing).")],
    domain: Annotated[
        list[str], typer.Option(help="A domain the site is served from; repeat for several.")
    ],
    name: Annotated[str | None, typer.Option(help="A name for people.")] = None,
    respect_dnt: Annotated[bool, typer.Option(help=_DNT_HELP)] = False,
    respect_gpc: Annotated[bool, typer.Option(help=_GPC_HELP)] = False,
    fingerprinting: Annotated[bool, typer.Option(help=_FINGERPRINT_HELP)] = False,
    site_key: Annotated[
        str | None,
        typer.Option(
            help="Keep the key the site's pages already carry (a site moved from PulseGate or "
            "Octanist: pk_live_..., OCT-...) instead of making one."
        ),
    ] = None,
) -> None:
    """Create a site; its key (for the tracking snippet) is printed alone on the last line."""
    from leadline.audit.service import Actor
    from leadline.sites import service as sites

    created = in_transaction(
        lambda session: sites.create_site(
            session,
            workspace_slug=workspace,
            domains=domain,
            name=name,
            actor=Actor.cli(),
            respect_dnt=respect_dnt,
            respect_gpc=respect_gpc,
            fingerprinting=fingerprinting,
            site_key=site_key,
        )
    )
    typer.echo(f"Created site {created.site.name} for {', '.join(created.domains)}.")
    typer.echo(created.site.site_key)


@sites_app.command("update")
def sites_update(
    site_key: Annotated[str, typer.Argument(help="The site's key.")],
    respect_dnt: Annotated[bool | None, typer.Option(help=_DNT_HELP)] = None,
    respect_gpc: Annotated[bool | None, typer.Option(help=_GPC_HELP)] = None,
    fingerprinting: Annotated[bool | None, typer.Option(help=_FINGERPRINT_HELP)] = None,
) -> None:
    """Change how a site's visitors are tracked; options left out stay as they are."""
    from leadline.audit.service import Actor
    from leadline.sites import service as sites

    changes = {
        name: value
        for name, value in (
            ("respect_dnt", respect_dnt),
            ("respect_gpc", respect_gpc),
            ("fingerprinting", fingerprinting),
        )
        if value is not None
    }
    if not changes:
        _fail("nothing to change: give --respect-dnt, --respect-gpc or --fingerprinting")
    updated = in_transaction(
        lambda session: sites.update_site_settings(session, site_key, changes, Actor.cli())
    )
    typer.echo(f"{updated.site.site_key}  {_site_settings(updated.site)}")


def _site_settings(site: Site) -> str:
    return "  ".join(
        f"{name.replace('_', '-')}={'on' if getattr(site, name) else 'off'}"
        for name in ("respect_dnt", "respect_gpc", "fingerprinting")
    )


@sites_app.command("list")
def sites_list(workspace: Annotated[str, typer.Option(help="Workspace slug.")]) -> None:
    """List a workspace's sites: key, name, domains."""
    from leadline.sites import service as sites

    for found in in_transaction(lambda session: sites.list_sites(session, workspace)):
        typer.echo(
            f"{found.site.site_key}  {found.site.name}  {', '.join(found.domains)}  "
            f"{_site_settings(found.site)}"
        )


@sites_app.command("rebuild-rollups")
def sites_rebuild_rollups(
    first: Annotated[str, typer.Option("--from", help="The first UTC day (YYYY-MM-DD).")],
    last: Annotated[str, typer.Option("--to", help="The last UTC day, included.")],
) -> None:
    """Rebuild every site's daily and hourly traffic rollups of these UTC days from the raw
    visits and events (after an upgrade that added hourly rollups: days before it). With
    LEADLINE_CLICKHOUSE_URL set the events are counted from ClickHouse (the rollups stay in
    the database). One transaction per site; run it while tracking is quiet, or for days
    already past."""
    from datetime import UTC, date, datetime, time, timedelta

    from leadline.analytics.rebuild import rebuild_all

    try:
        start_day, last_day = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        _fail("--from and --to must be dates (YYYY-MM-DD)")
        return
    if start_day > last_day:
        _fail("--from is after --to")

    async def run() -> str:
        db = Database(get_settings())
        try:
            return await rebuild_all(
                db,
                datetime.combine(start_day, time.min, tzinfo=UTC),
                datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=UTC),
            )
        finally:
            await db.dispose()

    typer.echo(asyncio.run(run()))


@forms_app.command("create")
def forms_create(
    site: Annotated[str, typer.Option(help="The site's key.")],
    form_id: Annotated[str, typer.Option(help="The form's id within the site (formId).")],
    file: Annotated[
        Path, typer.Option(help="The form's definition, form_json (see docs/forms.md).")
    ],
    name: Annotated[str | None, typer.Option(help="A name for people.")] = None,
) -> None:
    """Create a form of a site from a JSON file; /form.js then renders it on the site's pages."""
    from leadline.audit.service import Actor
    from leadline.sites import forms

    try:
        definition = file.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}")
    created = in_transaction(
        lambda session: forms.create_form(
            session,
            site_key=site,
            form_id=form_id,
            form_json=definition,
            name=name,
            actor=Actor.cli(),
        )
    )
    typer.echo(f"Created form {created.form_id} ({created.name}) of site {site}.")


@forms_app.command("list")
def forms_list(site: Annotated[str, typer.Option(help="The site's key.")]) -> None:
    """List a site's forms: id, name, whether enabled, number of fields."""
    from leadline.sites import forms
    from leadline.sites.schemas import parse_definition

    for form in in_transaction(lambda session: forms.list_forms(session, site)):
        fields = len(parse_definition(form.form_json).fields)
        state = "enabled" if form.enabled else "disabled"
        typer.echo(f"{form.form_id}  {form.name}  {state}  {fields} fields")


def _ip_rule(kind: str, workspace: str, address: str, note: str | None) -> None:
    from leadline.audit.service import Actor
    from leadline.sites import ip_rules

    rule = in_transaction(
        lambda session: ip_rules.add_ip_rule(
            session, workspace, address, kind, note=note, actor=Actor.cli()
        )
    )
    typer.echo(f"{rule.network} is on the {kind} list of {workspace}.")


_ADDRESS = Annotated[str, typer.Argument(help="An IP address or a CIDR network.")]
_WORKSPACE = Annotated[str, typer.Option(help="Workspace slug.")]
_NOTE = Annotated[str | None, typer.Option(help="Why, for people.")]


@ips_app.command("block")
def ips_block(workspace: _WORKSPACE, address: _ADDRESS, note: _NOTE = None) -> None:
    """Block an address: its submissions get the usual answer and never become leads."""
    _ip_rule("block", workspace, address, note)


@ips_app.command("allow")
def ips_allow(workspace: _WORKSPACE, address: _ADDRESS, note: _NOTE = None) -> None:
    """Mark an address as the team's own: its submissions are kept as tests, not leads."""
    _ip_rule("allow", workspace, address, note)


@ips_app.command("remove")
def ips_remove(workspace: _WORKSPACE, address: _ADDRESS) -> None:
    """Take an address off whichever list it is on."""
    from leadline.audit.service import Actor
    from leadline.sites import ip_rules

    rule = in_transaction(
        lambda session: ip_rules.remove_ip_rule(session, workspace, address, actor=Actor.cli())
    )
    typer.echo(f"{rule.network} is off the {rule.kind} list of {workspace}.")


@ips_app.command("list")
def ips_list(workspace: _WORKSPACE) -> None:
    """List the workspace's blocked and allowed addresses."""
    from leadline.sites import ip_rules

    for rule in in_transaction(lambda session: ip_rules.list_ip_rules(session, workspace)):
        typer.echo(f"{rule.kind:<5}  {rule.network}  {rule.note or ''}".rstrip())
