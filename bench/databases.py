"""Fresh benchmark databases: a SQLite file in a work directory, or a PostgreSQL database on
the local server, dropped and created anew."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def fresh_database(backend: str, workdir: Path, name: str) -> str:
    """The URL of an empty database called ``name`` (a file name on SQLite)."""
    if backend == "sqlite":
        path = workdir / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{path}{suffix}")
        return f"sqlite:///{path}"
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_database(backend: str, name: str) -> None:
    if backend != "postgresql":
        return
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def connect(backend: str, url: str) -> Any:
    """A plain autocommit connection to the benchmark's database, for counting what it holds
    (stdlib sqlite3, or psycopg)."""
    if backend == "sqlite":
        import sqlite3

        return sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    import psycopg

    return psycopg.connect(url, autocommit=True)


def sqlite_value(value: Any) -> Any:
    """A value as the SQLite loaders write it: times as the app stores them, booleans as 0/1."""
    if isinstance(value, datetime):
        return value.isoformat(" ", "microseconds")
    if isinstance(value, bool):
        return int(value)
    return value


def batches(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """``rows`` in lists of ``size`` (the last one shorter)."""
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
