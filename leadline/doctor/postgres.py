"""PostgreSQL's settings that matter under heavy tracking (docs/configuration.md, "PostgreSQL
under heavy tracking"), each judged with what to change."""

from __future__ import annotations

from collections.abc import Mapping

from leadline.doctor.findings import Finding, fail, ok, warn
from leadline.doctor.repository import PgSetting

NAMES = (
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "min_wal_size",
    "max_wal_size",
    "checkpoint_timeout",
    "shared_buffers",
    "max_connections",
    "superuser_reserved_connections",
)

# Connections one Leadline process may hold: its pool (20, and 20 more at peaks, see db.py)
# and the tracking writer's own.
CONNECTIONS_PER_PROCESS = 41
GIB = 1024**3
MIB = 1024**2


def judge(
    settings: Mapping[str, PgSetting], *, processes: int, in_use: int | None = None
) -> list[Finding]:
    """One finding per setting that matters; ``processes``: the Leadline processes (serve and
    worker) that share the server."""
    found = [_durability(settings), _wal(settings), _checkpoints(settings)]
    found.append(_shared_buffers(settings))
    found.append(_connections(settings, processes, in_use))
    return found


def _value(settings: Mapping[str, PgSetting], name: str) -> str:
    setting = settings.get(name)
    return setting.setting if setting is not None else ""


def _durability(settings: Mapping[str, PgSetting]) -> Finding:
    check = "postgresql durability"
    if _value(settings, "fsync") == "off":
        return fail(check, "fsync is off: a crash can corrupt the database; set fsync = on")
    commit = _value(settings, "synchronous_commit")
    if commit in ("off", "local"):
        return warn(
            check,
            f"synchronous_commit is {commit}: events answered 2xx could be lost if the "
            "database's host crashed; set synchronous_commit = on",
        )
    if _value(settings, "full_page_writes") == "off":
        return warn(check, "full_page_writes is off: a crash can tear pages; set it on")
    return ok(check, f"fsync on, synchronous_commit {commit or 'on'}, full_page_writes on")


def _wal(settings: Mapping[str, PgSetting]) -> Finding:
    check = "postgresql wal"
    kept = settings.get("min_wal_size")
    size = kept.bytes if kept is not None else None
    if size is not None and size < GIB:
        return warn(
            check,
            f"min_wal_size is {size // MIB} MB: under heavy ingest new log files are written "
            "full of zeros first and commits wait for them (about 60 ms each); set "
            "min_wal_size = 1GB",
        )
    shown = f"{size // MIB} MB" if size is not None else "unknown"
    return ok(check, f"min_wal_size {shown} keeps log files for reuse")


def _checkpoints(settings: Mapping[str, PgSetting]) -> Finding:
    check = "postgresql checkpoints"
    largest = settings.get("max_wal_size")
    size = largest.bytes if largest is not None else None
    if size is not None and size < 2 * GIB:
        return warn(
            check,
            f"max_wal_size is {size // MIB} MB: heavy ingest fills it within minutes and forces "
            "checkpoints more often than checkpoint_timeout; set max_wal_size = 4GB (or more)",
        )
    timeout = _value(settings, "checkpoint_timeout")
    shown = f"{size // MIB} MB" if size is not None else "unknown"
    return ok(check, f"max_wal_size {shown}, checkpoint_timeout {timeout or '?'}s")


def _shared_buffers(settings: Mapping[str, PgSetting]) -> Finding:
    check = "postgresql memory"
    buffers = settings.get("shared_buffers")
    size = buffers.bytes if buffers is not None else None
    if size is not None and size <= 128 * MIB:
        return warn(
            check,
            f"shared_buffers is {size // MIB} MB, PostgreSQL's default: give it about a "
            "quarter of the database host's memory (shared_buffers = 2GB on 8 GB)",
        )
    shown = f"{size // MIB} MB" if size is not None else "unknown"
    return ok(check, f"shared_buffers {shown}")


def _connections(settings: Mapping[str, PgSetting], processes: int, in_use: int | None) -> Finding:
    check = "postgresql connections"
    try:
        limit = int(_value(settings, "max_connections"))
        reserved = int(_value(settings, "superuser_reserved_connections") or 0)
    except ValueError:
        return warn(check, "max_connections could not be read")
    room = limit - reserved
    needed = processes * CONNECTIONS_PER_PROCESS
    busy = f"; {in_use} open now" if in_use is not None else ""
    if room < needed:
        return warn(
            check,
            f"max_connections {limit} leaves {room} for clients; {processes} Leadline "
            f"process(es) may open {needed} ({CONNECTIONS_PER_PROCESS} each: a pool of 40 and "
            f"the tracking writer's){busy}; raise max_connections to {needed + reserved + 10} "
            "or put PgBouncer in front",
        )
    return ok(
        check,
        f"max_connections {limit}: room for {room // CONNECTIONS_PER_PROCESS} Leadline "
        f"process(es) of {CONNECTIONS_PER_PROCESS} connections{busy}",
    )
