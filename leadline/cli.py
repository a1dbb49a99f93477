"""The ``leadline`` command."""

from __future__ import annotations

import asyncio
import sys
import typing
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.config import Settings, get_settings
from leadline.db import Database
from leadline.errors import LeadlineError
from leadline.kit import changes
from leadline.kit.time import iso_millis
from leadline.models import ApiKey, Job, Site, Workspace

if TYPE_CHECKING:
    from leadline.leads.imports import ImportOptions, ImportResult

T = TypeVar("T")

app = typer.Typer(
    help="Leadline: self-hosted lead capture, attribution and pipeline.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
ad_spend_app = typer.Typer(help="Load daily ad spend.", no_args_is_help=True)
app.add_typer(ad_spend_app, name="ad-spend")
leads_app = typer.Typer(help="Import leads from CSV and Excel files.", no_args_is_help=True)
app.add_typer(leads_app, name="leads")
workspaces_app = typer.Typer(
    help="List workspaces and change their settings.", no_args_is_help=True
)
app.add_typer(workspaces_app, name="workspaces")
jobs_app = typer.Typer(help="Inspect and replay background jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
sites_app = typer.Typer(help="Create, change and list tracked sites.", no_args_is_help=True)
_DNT_HELP = "Treat a browser sending Do Not Track as refusing all consent."
_GPC_HELP = "Treat a browser sending Global Privacy Control as refusing the ad consent flags."
_FINGERPRINT_HELP = (
    "Let the tracker's fingerprint (sent only with analytics consent) identify visitor and device."
)
app.add_typer(sites_app, name="sites")
forms_app = typer.Typer(help="Create and list the forms of a site.", no_args_is_help=True)
app.add_typer(forms_app, name="forms")
people_app = typer.Typer(
    help="Add and list a workspace's people (owner, admins, agents, marketing people).",
    no_args_is_help=True,
)
app.add_typer(people_app, name="people")
tokens_app = typer.Typer(help="Create people's tokens.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
ips_app = typer.Typer(
    help="The addresses whose form submissions are blocked, or are the team's own (allowed).",
    no_args_is_help=True,
)
app.add_typer(ips_app, name="ips")
anomalies_app = typer.Typer(
    help="Find anomalies in traffic, submissions and tracking.", no_args_is_help=True
)
app.add_typer(anomalies_app, name="anomalies")
conversions_app = typer.Typer(
    help="Send pipeline outcomes to the ad platforms: destinations, preflight, Google's file.",
    no_args_is_help=True,
)
app.add_typer(conversions_app, name="conversions")
destinations_app = typer.Typer(
    help="Add, list and remove a workspace's conversion destinations.", no_args_is_help=True
)
conversions_app.add_typer(destinations_app, name="destinations")
widget_app = typer.Typer(help="The chat widget's identity verification.", no_args_is_help=True)
app.add_typer(widget_app, name="widget")


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


def _migrate(settings: Settings) -> None:
    from leadline.migrations import upgrade

    upgrade(settings)


@app.command()
def migrate() -> None:
    """Apply every pending database migration."""
    settings = get_settings()
    _migrate(settings)
    typer.echo("database is up to date", err=True)


async def _bootstrap(session: AsyncSession, settings: Settings) -> str | None:
    """On an empty database: workspace ``default`` and a first admin key, returned once."""
    from leadline.auth import service as auth
    from leadline.workspaces import service as workspaces

    await workspaces.ensure_secret_key(session, settings.secret_key)
    # With ANALYTICS_API_KEY set, that is the admin key (the app accepts it when it starts).
    if settings.analytics_api_key or not await workspaces.is_empty(session):
        return None
    issued = await auth.create_key(
        session, workspace_slug=workspaces.DEFAULT_SLUG, role="admin", name="first admin key"
    )
    return issued.token


def _print_setup_link(settings: Settings, host: str, port: int) -> None:
    """While no one has an account: a new one-time link to the dashboard's setup page, where
    the first person makes the owner account (the links printed before stop working)."""
    from leadline.accounts import service as accounts

    token = in_transaction(accounts.setup_link, settings)
    if token is None:
        return
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    shown = f"[{shown}]" if ":" in shown else shown
    typer.echo(
        "No one can sign in to the dashboard yet. Create the owner account here (the link "
        f"works once, for {accounts.SETUP_VALID.total_seconds() / 3600:.0f} hours):"
    )
    typer.echo(f"http://{shown}:{port}/app/setup?token={token}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker", help="Do not run jobs in this process (run `leadline worker`)."
        ),
    ] = False,
) -> None:
    """Apply migrations, then serve every API (and run background jobs, unless --no-worker)."""
    import uvicorn

    from leadline.app import create_app

    settings = get_settings()
    _migrate(settings)
    token = in_transaction(lambda session: _bootstrap(session, settings), settings)
    if token:
        typer.echo("Created workspace 'default'. Its admin API key, shown only this once:")
        typer.echo(token)
    _print_setup_link(settings, host, port)
    typer.echo(f"Leadline listening on http://{host}:{port}", err=True)
    uvicorn.run(
        create_app(settings, worker=not no_worker),
        host=host,
        port=port,
        log_level=settings.log_level,
        # uvicorn's lines go through the app's log (its format, the request id); the app logs
        # each request itself, so uvicorn's own access line would say it twice.
        log_config=None,
        access_log=False,
    )


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1, max=256, help="Jobs run at once (default LEADLINE_WORKER_CONCURRENCY)."
        ),
    ] = None,
) -> None:
    """Run background jobs until interrupted (SIGINT or SIGTERM stop it gracefully)."""
    import signal

    from leadline.jobs.worker import run_worker
    from leadline.logs import configure_logging

    settings = get_settings()
    configure_logging(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_worker(settings, stop, concurrency=concurrency)

    asyncio.run(main())


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
    visits and events (after an upgrade that added hourly rollups: days before it). One
    transaction per site; run it while tracking is quiet, or for days already past."""
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


def _job_line(job: Job) -> str:
    error = (job.last_error or "").splitlines()[-1:] or [""]
    return (
        f"{job.id}  {job.kind:<24} {job.state:<9} attempts={job.attempts}/{job.max_attempts}  "
        f"run_at={iso_millis(job.run_at)}  {error[0][:120]}"
    ).rstrip()


@jobs_app.command("list")
def jobs_list(
    state: Annotated[str | None, typer.Option(help="queued, running, succeeded or dead.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """List jobs, newest first, with a count per state."""
    from leadline.jobs import service as jobs

    async def work(session: AsyncSession) -> tuple[list[Job], dict[str, int]]:
        page = await jobs.list_jobs(session, state=state, kind=kind, limit=limit)
        return page.jobs, await jobs.counts(session)

    found, counts = in_transaction(work)
    for job in found:
        typer.echo(_job_line(job))
    typer.echo("  ".join(f"{name}={count}" for name, count in counts.items()), err=True)


@jobs_app.command("replay")
def jobs_replay(
    ids: Annotated[list[str] | None, typer.Argument(help="Ids of dead jobs.")] = None,
    all_dead: Annotated[
        bool, typer.Option("--all-dead", help="Replay every dead job (of --kind, if given).")
    ] = False,
    kind: Annotated[str | None, typer.Option(help="With --all-dead: only this kind.")] = None,
) -> None:
    """Queue dead jobs again with a fresh set of attempts."""
    from leadline.jobs import service as jobs

    if not ids and not all_dead:
        _fail("name the jobs to replay, or pass --all-dead")
    count = in_transaction(
        lambda session: jobs.replay(session, ids=ids or (), kind=kind, all_dead=all_dead)
    )
    typer.echo(f"replayed {count} job{'s' if count != 1 else ''}")


@keys_app.command("create")
def keys_create(
    workspace: Annotated[str, typer.Option(help="Workspace slug; created if missing.")],
    role: Annotated[str, typer.Option(help="admin, integration or marketing.")],
    name: Annotated[str | None, typer.Option(help="A label to tell keys apart.")] = None,
    from_stdin: Annotated[
        bool,
        typer.Option(
            "--from-stdin",
            help="Keep a key your clients already send (PulseGate's ANALYTICS_API_KEY, an "
            "Octanist or Leadiosa key), read from standard input, instead of making one.",
        ),
    ] = False,
    pages: Annotated[
        str | None,
        typer.Option(
            help="With --role marketing: the analytics pages the key opens, comma-separated "
            "(overview,sources,...); the default pages without.",
        ),
    ] = None,
) -> None:
    """Create an API key. The key itself is printed alone on the last line (a key read with
    --from-stdin is not printed)."""
    from leadline.audit.service import Actor
    from leadline.auth import service as auth
    from leadline.auth.pages import parse_page_list

    chosen = None
    if pages is not None:
        if role != "marketing":
            _fail("--pages is only for marketing keys (--role marketing)")
        try:
            chosen = parse_page_list(pages)
        except LeadlineError as exc:
            _fail(exc.message)
    given = sys.stdin.readline().strip() if from_stdin else None
    issued = in_transaction(
        lambda session: auth.create_key(
            session,
            workspace_slug=workspace,
            role=role,
            name=name,
            actor=Actor.cli(),
            token=given,
            pages=chosen,
        )
    )
    if given is not None:
        typer.echo(
            f"Created {issued.key.role} key {issued.key.id} ({issued.key.prefix}...) "
            f"for workspace '{issued.workspace.slug}' from the key given."
        )
        return
    if chosen is not None:
        typer.echo(f"It opens the pages: {', '.join(chosen)}")
    typer.echo(
        f"Created {issued.key.role} key {issued.key.id} ({issued.key.prefix}...) "
        f"for workspace '{issued.workspace.slug}'. Store it now; it is not shown again:"
    )
    typer.echo(issued.token)


@keys_app.command("list")
def keys_list(
    workspace: Annotated[str | None, typer.Option(help="Only this workspace's keys.")] = None,
) -> None:
    """List API keys (never the keys themselves: only their visible prefix)."""
    from leadline.auth import service as auth

    rows = in_transaction(lambda session: auth.list_keys(session, workspace))

    def pages(key: ApiKey) -> str:
        if key.role != "marketing":
            return "-"
        own = auth.pages_of_key(key)
        return "default" if own is None else ",".join(own)

    _table(
        ("ID", "PREFIX", "WORKSPACE", "ROLE", "NAME", "CREATED", "LAST USED", "REVOKED", "PAGES"),
        [
            (
                key.id,
                key.prefix + "...",
                ws.slug,
                key.role,
                key.name,
                key.created_at.strftime("%Y-%m-%d %H:%M"),
                key.last_used_at.strftime("%Y-%m-%d %H:%M") if key.last_used_at else "-",
                key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "-",
                pages(key),
            )
            for key, ws in rows
        ],
    )


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id (key_...) or its visible prefix.")],
) -> None:
    """Revoke an API key; requests made with it are refused from now on."""
    from leadline.audit.service import Actor
    from leadline.auth import service as auth

    revoked = in_transaction(lambda session: auth.revoke_key(session, key, actor=Actor.cli()))
    typer.echo(f"revoked {revoked.id} ({revoked.prefix}...)")


@people_app.command("add")
def people_add(
    workspace: Annotated[str, typer.Option(help="Workspace slug (it must exist).")],
    email: Annotated[str, typer.Option(help="The person's email address, unique in it.")],
    name: Annotated[str, typer.Option(help="Their name, as colleagues see it.")],
    role: Annotated[
        str,
        typer.Option(
            help="owner, admin, agent or marketing; a workspace's first person is its owner."
        ),
    ],
    pages: Annotated[
        str | None,
        typer.Option(
            help="A marketing person's analytics pages, comma-separated (overview,sources); "
            "the default ones without."
        ),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read their dashboard password from standard input (its first line).",
        ),
    ] = False,
) -> None:
    """Add a person to a workspace and print them. With --password-stdin they can sign in to
    the dashboard at once."""
    from leadline.accounts import passwords
    from leadline.accounts import service as accounts
    from leadline.audit.service import Actor
    from leadline.auth.pages import parse_page_list
    from leadline.errors import ValidationFailed
    from leadline.models import Person
    from leadline.people import service as people

    chosen = None
    if pages is not None:
        try:
            chosen = parse_page_list(pages)
        except ValidationFailed as exc:
            _fail(exc.message)
    password = None
    if password_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        try:
            passwords.check_new(password)
        except ValidationFailed as exc:
            _fail(exc.message)

    async def add(session: AsyncSession) -> Person:
        person = await people.add_to_workspace(
            session,
            workspace,
            email=email,
            name=name,
            role=role,
            actor=Actor.cli(),
            pages=chosen,
        )
        if password is not None:
            await accounts.set_password(session, person, password, actor=Actor.cli())
        return person

    person = in_transaction(add)
    first = " (the workspace's first person is its owner)" if person.role != role else ""
    typer.echo(f"Added {person.name} <{person.email}> to workspace '{workspace}'{first}:")
    typer.echo(f"{person.id}  {person.email}  {person.name}  {person.role}  {person.availability}")
    if person.role == "marketing":
        typer.echo("Analytics pages: " + ", ".join(people.analytics_pages(person)))
    if password is not None:
        typer.echo("They can sign in to the dashboard at /app/signin with that password.")


@people_app.command("list")
def people_list(
    workspace: Annotated[str | None, typer.Option(help="Only this workspace's people.")] = None,
) -> None:
    """List people: id, workspace, email, name, role, availability."""
    from leadline.people import service as people

    found = in_transaction(lambda session: people.people_with_workspaces(session, workspace))
    _table(
        ("ID", "WORKSPACE", "EMAIL", "NAME", "ROLE", "AVAILABILITY"),
        [
            (person.id, ws.slug, person.email, person.name, person.role, person.availability)
            for person, ws in found
        ],
    )


@tokens_app.command("create")
def tokens_create(
    workspace: Annotated[str, typer.Option(help="Workspace slug.")],
    person: Annotated[str, typer.Option(help="The email of the person the token acts as.")],
    name: Annotated[str | None, typer.Option(help="A label to tell tokens apart.")] = None,
) -> None:
    """Create a token that acts as a person, with their role, for the Leadiosa API (and the
    others, as far as the role allows). The token is printed alone on the last line."""
    from leadline.audit.service import Actor
    from leadline.people import tokens

    created = in_transaction(
        lambda session: tokens.create_for_email(
            session, workspace, person, name=name, actor=Actor.cli()
        )
    )
    key = created.issued.key
    typer.echo(
        f"Created token {key.id} ({key.prefix}...) for {created.person.email} "
        f"({created.person.role}) in workspace '{workspace}'. Store it now; it is not shown again:"
    )
    typer.echo(created.issued.token)


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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()


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
    from leadline.kit.periods import parse_period
    from leadline.workspaces import service as workspaces

    settings = get_settings()
    try:
        kind, fmt = exports.parse_kind(kind), exports.parse_format(format_)
    except LeadlineError as exc:
        _fail(exc.message)

    async def run(target: typing.BinaryIO) -> None:
        db = Database(settings)
        try:
            async with db.transaction() as session:
                ws = await workspaces.require(session, workspace)
                spec = exports.ExportSpec(
                    workspace_id=ws.id,
                    kind=kind,
                    site_ids=await exports.sites_to_export(session, ws.id, site),
                    period=parse_period(from_, to, tz),
                    site_named=bool(site),
                )
            total = await exports.count_rows(db, spec)
            with typer.progressbar(
                length=total, label=f"exporting {spec.kind}", file=sys.stderr
            ) as bar:
                async for chunk in exports.stream(db, spec, fmt, on_rows=bar.update):
                    target.write(chunk)
            target.flush()
        finally:
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


@widget_app.command("secret")
def widget_secret(
    workspace: str = typer.Option(..., "--workspace", help="The workspace's slug."),
) -> None:
    """Print the workspace's identity secret: sign each id with it (HMAC-SHA256, hex) on your
    server and pass it to leadiosa.identify as ``hash``."""
    from leadline.inbox import widget

    settings = get_settings()

    async def work(session: AsyncSession) -> str:
        return await widget.secret_of(session, workspace, settings.secret_key)

    typer.echo(in_transaction(work, settings))


@widget_app.command("verification")
def widget_verification(
    state: str = typer.Argument(..., help="on or off"),
    workspace: str = typer.Option(..., "--workspace", help="The workspace's slug."),
) -> None:
    """Turn identity verification on or off: when on, identify calls without the right
    ``hash`` are refused."""
    from leadline.audit.service import Actor
    from leadline.inbox import widget

    if state not in ("on", "off"):
        _fail("say on or off")

    async def work(session: AsyncSession) -> str:
        found = await widget.set_verification(session, workspace, state == "on", Actor.cli())
        return f"identity verification {state} for {found.slug}"

    typer.echo(in_transaction(work))
