"""Setting up and running: migrate, serve, worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.cli._base import app, in_transaction
from leadline.config import Settings, get_settings

if TYPE_CHECKING:
    import uvicorn

T = TypeVar("T")


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
        # The app reads the forwarded headers itself, from LEADLINE_TRUSTED_PROXIES only.
        proxy_headers=False,
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

    from leadline import live
    from leadline.db import checkpoints
    from leadline.jobs.worker import run_worker
    from leadline.kit import changes
    from leadline.logs import configure_logging

    settings = get_settings()
    configure_logging(settings)
    # What jobs change reaches the app processes as what requests change does: the caches'
    # changes and the live events go through Redis when it is configured.
    changes.configure(settings.redis_url)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        metrics_server = _metrics_server(settings)
        serving = asyncio.create_task(metrics_server.serve()) if metrics_server else None
        hub = live.configure(settings.redis_url)
        try:
            # The worker's SQLite checkpoints (see db.SqliteCheckpointer); `serve` has the
            # tracking writer's.
            with checkpoints(settings.sync_url):
                await run_worker(settings, stop, concurrency=concurrency)
        finally:
            await hub.close()
            if metrics_server is not None and serving is not None:
                metrics_server.should_exit = True
                await serving

    asyncio.run(main())


def _metrics_server(settings: Settings) -> uvicorn.Server | None:
    """The worker's own ``GET /metrics`` (LEADLINE_WORKER_METRICS_PORT), on the worker's event
    loop; None when no port is set."""
    if settings.worker_metrics_port is None:
        return None
    import uvicorn

    from leadline.surfaces.metrics import create_metrics_app

    class _Server(uvicorn.Server):
        # The worker's own signal handlers stop it, and it stops this server.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    typer.echo(
        "worker metrics on "
        f"http://{settings.worker_metrics_host}:{settings.worker_metrics_port}/metrics",
        err=True,
    )
    return _Server(
        uvicorn.Config(
            create_metrics_app(settings),
            host=settings.worker_metrics_host,
            port=settings.worker_metrics_port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
    )
