"""Who may act: API keys, people and their tokens."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.cli._base import _fail, _table, app, in_transaction
from leadline.errors import LeadlineError
from leadline.models import ApiKey

if TYPE_CHECKING:
    pass

T = TypeVar("T")


keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
people_app = typer.Typer(
    help="Add and list a workspace's people (owner, admins, agents, marketing people).",
    no_args_is_help=True,
)
app.add_typer(people_app, name="people")
tokens_app = typer.Typer(help="Create people's tokens.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")


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
