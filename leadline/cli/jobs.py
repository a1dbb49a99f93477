"""Background jobs: list and replay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.cli._base import _fail, app, in_transaction
from leadline.kit.time import iso_millis
from leadline.models import Job

if TYPE_CHECKING:
    pass

T = TypeVar("T")


jobs_app = typer.Typer(help="Inspect and replay background jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


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
