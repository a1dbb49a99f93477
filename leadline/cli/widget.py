"""The chat widget's identity verification."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.cli._base import _fail, app, in_transaction
from leadline.config import get_settings

if TYPE_CHECKING:
    pass

T = TypeVar("T")


widget_app = typer.Typer(help="The chat widget's identity verification.", no_args_is_help=True)
app.add_typer(widget_app, name="widget")


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
