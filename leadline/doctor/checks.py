"""Every check, in the order the report gives them: the settings, the database and its
migrations, the services beside it, the disk, and PostgreSQL's settings."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util.exc import CommandError
from sqlalchemy.engine import make_url

from leadline.config import Settings
from leadline.db import Database
from leadline.doctor import configuration, postgres, repository
from leadline.doctor.findings import Finding, fail, ok, warn
from leadline.migrations import alembic_config
from leadline.workspaces import service as workspaces

# How long one probe waits for an answer.
TIMEOUT_SECONDS = 3.0
# Free space below which SQLite's disk is a failure, and below which it is a warning.
DISK_FAIL_BYTES = 512 * 1024**2
DISK_WARN_BYTES = 5 * 1024**3


def _reason(exc: BaseException) -> str:
    """What went wrong, in one line, without the URL (which may hold a password)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {TIMEOUT_SECONDS:g} s"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def sqlite_path(settings: Settings) -> Path | None:
    """The SQLite database's file (None for PostgreSQL or an in-memory database)."""
    if not settings.is_sqlite:
        return None
    database = make_url(settings.sync_url).database
    if not database or database == ":memory:":
        return None
    return Path(database).resolve()


async def run(settings: Settings, *, processes: int = 2) -> list[Finding]:
    findings = [configuration.base_urls(settings), configuration.metrics_access(settings)]
    path = sqlite_path(settings)
    if path is not None and not path.exists():
        findings.append(
            warn(
                "database",
                f"no SQLite file yet at {path}: `leadline migrate` (or `leadline serve`) makes it",
            )
        )
        findings.append(configuration.secret_key(settings, None))
    else:
        findings.extend(await _database(settings, processes))
    findings.append(_disk(path))
    findings.append(await _redis(settings.redis_url))
    findings.append(await _clickhouse(settings.clickhouse_url))
    return findings


async def _database(settings: Settings, processes: int) -> list[Finding]:
    db = Database(settings)
    kind = "SQLite" if settings.is_sqlite else "PostgreSQL"
    try:
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                await db.ping()
        except Exception as exc:
            return [
                fail(
                    "database",
                    f"{kind} does not answer ({_reason(exc)}); check "
                    "LEADLINE_DATABASE_URL and that the server runs",
                ),
                configuration.secret_key(settings, None),
            ]
        findings = [ok("database", f"{kind} answers")]
        if settings.is_sqlite:
            findings.append(sqlite_library(sqlite3.sqlite_version_info))
        migrated, migrations = await _migrations(db, settings)
        findings.append(migrations)
        stored: bool | None = None
        if migrated:
            async with db.sessionmaker() as session:
                stored = await workspaces.stored_secret_key(session) is not None
        findings.append(configuration.secret_key(settings, stored))
        if not settings.is_sqlite:
            async with db.engine.connect() as connection:
                found = await repository.postgres_settings(connection, postgres.NAMES)
                in_use = await repository.postgres_connections(connection)
            findings.extend(postgres.judge(found, processes=processes, in_use=in_use))
        return findings
    finally:
        await db.dispose()


# The first SQLite release without the write-ahead log reset race (fixed in 3.51.3, and in the
# 3.50.7 and 3.44.6 backports).
SQLITE_WAL_RESET_FIXED = (3, 51, 3)
SQLITE_WAL_RESET_BACKPORTS = ((3, 50, 7), (3, 44, 6))


def sqlite_library(version: tuple[int, int, int]) -> Finding:
    """The SQLite library Python was built with: releases before the fix of the write-ahead
    log reset race can corrupt a file that two connections write and checkpoint at once.
    Leadline's own checkpoints hold the write lock, which that race needs free; other
    programs writing the same file may not."""
    text = ".".join(str(part) for part in version)
    fixed = version >= SQLITE_WAL_RESET_FIXED or any(
        version[:2] == backport[:2] and version >= backport
        for backport in SQLITE_WAL_RESET_BACKPORTS
    )
    if fixed:
        return ok("sqlite", f"SQLite {text}")
    return warn(
        "sqlite",
        f"SQLite {text} predates the fix of the write-ahead log reset race (3.51.3): "
        "Leadline's processes checkpoint with the write lock held, which avoids it; do not "
        "write to the file with other programs while Leadline runs, and use PostgreSQL for "
        "busy installations",
    )


async def _migrations(db: Database, settings: Settings) -> tuple[bool, Finding]:
    """Whether the database has the schema at all, and the finding on its revision."""
    script = ScriptDirectory.from_config(alembic_config(settings))
    heads = set(script.get_heads())
    async with db.engine.connect() as connection:
        current = await repository.current_revisions(connection)
    if not current:
        return False, warn("migrations", "the database has no schema yet: run `leadline migrate`")
    if set(current) == heads:
        return True, ok("migrations", f"at the latest revision ({', '.join(sorted(heads))})")
    try:
        pending = list(script.iterate_revisions("heads", current))
    except (CommandError, ResolutionError):
        return True, fail(
            "migrations",
            f"the database is at {', '.join(current)}, a revision this version does not know "
            "(written by a newer Leadline?): run the version that migrated it",
        )
    return True, warn(
        "migrations",
        f"{len(pending)} migration(s) pending: run `leadline migrate` (`leadline serve` applies "
        "them when it starts; `leadline worker` does not)",
    )


def _disk(path: Path | None) -> Finding:
    if path is None:
        return ok("disk", "not SQLite: the database server keeps its own files")
    folder = path.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return fail("disk", f"{folder} cannot be read ({_reason(exc)})")
    gib = free / 1024**3
    if free < DISK_FAIL_BYTES:
        return fail("disk", f"{gib:.2f} GiB free for {path}: free space or move the database")
    if free < DISK_WARN_BYTES:
        return warn("disk", f"{gib:.1f} GiB free for {path}: the events table grows quickly")
    return ok("disk", f"{gib:.1f} GiB free for {path}")


async def _redis(url: str | None) -> Finding:
    if not url:
        return ok(
            "redis",
            "not configured (LEADLINE_REDIS_URL): fine for one process; several share rate "
            "limits, caches and live messages only through it",
        )
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=TIMEOUT_SECONDS)
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            await client.ping()
    except Exception as exc:
        return fail("redis", f"{_host(url)} does not answer PING ({_reason(exc)})")
    finally:
        await client.aclose()
    return ok("redis", f"{_host(url)} answers")


async def _clickhouse(url: str | None) -> Finding:
    if not url:
        return ok("clickhouse", "not configured (LEADLINE_CLICKHOUSE_URL): events stay in SQL")
    parts = urlsplit(url)
    if parts.scheme == "chdb":
        return warn(
            "clickhouse",
            "chdb:// runs ClickHouse inside each process (one process per data directory): "
            "for tests and trials; point LEADLINE_CLICKHOUSE_URL at a server in production",
        )
    if parts.scheme not in ("http", "https"):
        return fail(
            "clickhouse", "LEADLINE_CLICKHOUSE_URL must start with http://, https:// or chdb://"
        )
    # The server's /ping, without the database path; the user and password, if given, as
    # basic authentication.
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    ping = f"{parts.scheme}://{netloc}{f':{parts.port}' if parts.port else ''}/ping"
    auth = (parts.username or "", parts.password or "") if parts.username else None
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, auth=auth) as client:
            answer = await client.get(ping)
    except Exception as exc:
        return fail("clickhouse", f"{_host(url)} does not answer ({_reason(exc)})")
    if answer.status_code != 200:
        return fail("clickhouse", f"{_host(url)}/ping answered {answer.status_code}")
    return ok("clickhouse", f"{_host(url)} answers")


def _host(url: str) -> str:
    """Where a URL points, without its user and password."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.hostname or '?'}{port}"
