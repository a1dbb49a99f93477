"""The statements the registry of personal data drives in ClickHouse, when it keeps the
tracking events and visits' starts (LEADLINE_CLICKHOUSE_URL, docs/clickhouse.md): a person's
rows counted, read (the subject's export) and erased in each of ClickHouse's tables a SQL
table declared (``PersonalData.clickhouse``), scoped to the workspace.

A deletion is a lightweight ``DELETE``; the rest is one ``ALTER TABLE ... UPDATE`` mutation
per table, which returns once ClickHouse has rewritten the rows (``mutations_sync``). Text to
scrub is read first (each distinct value of the person's rows), scrubbed here as in the SQL
database, and written back in the same mutation (``transform`` from the old values to the
new). The client is synchronous: each call runs in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from leadline.clickhouse.client import MUTATION_SETTINGS, ClickHouse, millis
from leadline.models.personal import SCRUB, PersonalData, Set
from leadline.privacy.registry import Person


def _name(identifier: str) -> str:
    """A table's or column's name as declared (code, never a caller's text), checked."""
    if not identifier or not identifier.replace("_", "").isalnum():
        raise ValueError(f"not a ClickHouse name: {identifier!r}")
    return identifier


def _where(
    data: PersonalData, workspace_id: str, person: Person
) -> tuple[str, dict[str, Any]] | None:
    """The condition on the person's rows and its parameters; None when nothing can match."""
    params: dict[str, Any] = {"ws": workspace_id}
    parts: list[str] = []
    for n, (column, key) in enumerate(sorted(data.match.items())):
        values = person.of(key)
        if not values:
            continue
        name = _name(column)
        params[f"m{n}"] = values
        parts.append(
            f"lower({name}) IN {{m{n}:Array(String)}}"
            if key == "email"
            else f"{name} IN {{m{n}:Array(String)}}"
        )
    if not parts:
        return None
    return f"workspace_id = {{ws:String}} AND ({' OR '.join(parts)})", params


def count_sync(
    clickhouse: ClickHouse, table: str, data: PersonalData, workspace_id: str, person: Person
) -> int:
    """How many of the person's rows ClickHouse's ``table`` holds."""
    where = _where(data, workspace_id, person)
    if where is None:
        return 0
    condition, params = where
    ((found,),) = clickhouse.query(
        f"SELECT count() FROM {_name(table)} WHERE {condition}",  # noqa: S608
        params,
    )
    return int(found)


def rows_sync(
    clickhouse: ClickHouse, table: str, data: PersonalData, workspace_id: str, person: Person
) -> list[dict[str, Any]]:
    """The person's rows of ClickHouse's ``table``, every column."""
    where = _where(data, workspace_id, person)
    if where is None:
        return []
    condition, params = where
    names = [
        _name(str(name))
        for (name,) in clickhouse.query(
            "SELECT name FROM system.columns WHERE database = currentDatabase()"
            " AND table = {table:String} ORDER BY position",
            {"table": table},
        )
    ]
    rows = clickhouse.query(
        f"SELECT {', '.join(names)} FROM {_name(table)} WHERE {condition}",  # noqa: S608
        params,
    )
    return [dict(zip(names, row, strict=True)) for row in rows]


async def rows(
    clickhouse: ClickHouse, table: str, data: PersonalData, workspace_id: str, person: Person
) -> list[dict[str, Any]]:
    return await asyncio.to_thread(rows_sync, clickhouse, table, data, workspace_id, person)


def erase_sync(
    clickhouse: ClickHouse,
    table: str,
    data: PersonalData,
    workspace_id: str,
    person: Person,
    scrub: Callable[[str], str],
) -> int:
    """Do to the person's rows of ClickHouse's ``table`` what ``data`` declares; how many
    rows went or were rewritten."""
    where = _where(data, workspace_id, person)
    if where is None:
        return 0
    condition, params = where
    if data.delete:
        return _delete_where(clickhouse, table, condition, params)
    found = count_sync(clickhouse, table, data, workspace_id, person)
    if not found:
        return 0
    assignments: list[str] = []
    for n, (column, action) in enumerate(sorted(data.erase.items())):
        name = _name(column)
        if isinstance(action, Set):
            if action.value is None:
                assignments.append(f"{name} = NULL")
            else:
                params[f"v{n}"] = str(action.value)
                assignments.append(f"{name} = {{v{n}:String}}")
        elif action is SCRUB:
            old, new = _scrubbed(clickhouse, table, name, condition, params, scrub)
            if old:
                params[f"o{n}"], params[f"n{n}"] = old, new
                assignments.append(
                    f"{name} = if(isNull({name}), {name}, transform(assumeNotNull({name}),"
                    f" {{o{n}:Array(String)}}, {{n{n}:Array(String)}}, assumeNotNull({name})))"
                )
        else:
            raise ValueError(f"ClickHouse's {table}.{column} cannot be erased with {action!r}")
    if assignments:
        clickhouse.command(
            f"ALTER TABLE {_name(table)} UPDATE {', '.join(assignments)} WHERE {condition}",
            params,
            settings=MUTATION_SETTINGS,
        )
    return found


def _scrubbed(
    clickhouse: ClickHouse,
    table: str,
    column: str,
    condition: str,
    params: dict[str, Any],
    scrub: Callable[[str], str],
) -> tuple[list[str], list[str]]:
    """The distinct texts of the person's rows' ``column`` that scrubbing changes, and what
    they become."""
    rows = clickhouse.query(
        f"SELECT DISTINCT {column} FROM {_name(table)}"  # noqa: S608
        f" WHERE {condition} AND {column} IS NOT NULL",
        params,
    )
    old: list[str] = []
    new: list[str] = []
    for (text,) in rows:
        cleaned = scrub(str(text))
        if cleaned != text:
            old.append(str(text))
            new.append(cleaned)
    return old, new


def erase_all_sync(
    clickhouse: ClickHouse,
    tables: Sequence[tuple[str, PersonalData]],
    workspace_id: str,
    person: Person,
    scrub: Callable[[str], str],
) -> dict[str, int]:
    """Erase the person from each of ``tables``; rows per table, named ``clickhouse.<table>``
    (the receipt's counts)."""
    return {
        f"clickhouse.{table}": erase_sync(clickhouse, table, data, workspace_id, person, scrub)
        for table, data in tables
    }


async def erase_all(
    clickhouse: ClickHouse,
    tables: Sequence[tuple[str, PersonalData]],
    workspace_id: str,
    person: Person,
    scrub: Callable[[str], str],
) -> dict[str, int]:
    return await asyncio.to_thread(erase_all_sync, clickhouse, tables, workspace_id, person, scrub)


def expire_sync(
    clickhouse: ClickHouse,
    workspace_id: str,
    *,
    events_before: datetime | None,
    visits_before: datetime | None,
    kept_visits: Sequence[str],
    visit_data: PersonalData,
    scrub: Callable[[str], str],
) -> dict[str, int]:
    """A retention run's part in ClickHouse: the workspace's events received before
    ``events_before`` deleted, and its visits' starts before ``visits_before`` deleted, but
    for ``kept_visits`` (those the SQL database kept for a lead), which get what ``visit_data``
    declares instead. Rows removed or changed, by ``clickhouse.<table>``."""
    found: dict[str, int] = {}
    if events_before is not None:
        params: dict[str, Any] = {"ws": workspace_id, "before": millis(events_before)}
        condition = (
            "workspace_id = {ws:String}"
            " AND received_at < fromUnixTimestamp64Milli({before:Int64}, 'UTC')"
        )
        found["clickhouse.events"] = _delete_where(clickhouse, "events", condition, params)
    if visits_before is not None:
        params = {"ws": workspace_id, "before": millis(visits_before), "kept": list(kept_visits)}
        condition = (
            "workspace_id = {ws:String}"
            " AND started_at < fromUnixTimestamp64Milli({before:Int64}, 'UTC')"
            " AND id NOT IN {kept:Array(String)}"
        )
        found["clickhouse.visits"] = _delete_where(clickhouse, "visits", condition, params)
        if kept_visits:
            kept = Person({"visit": set(kept_visits)})
            found["clickhouse.visits_anonymised"] = erase_sync(
                clickhouse, "visits", visit_data, workspace_id, kept, scrub
            )
    return found


def _delete_where(
    clickhouse: ClickHouse, table: str, condition: str, params: dict[str, Any]
) -> int:
    ((count,),) = clickhouse.query(
        f"SELECT count() FROM {_name(table)} WHERE {condition}",  # noqa: S608
        params,
    )
    if count:
        clickhouse.command(
            f"DELETE FROM {_name(table)} WHERE {condition}",  # noqa: S608
            params,
            settings=MUTATION_SETTINGS,
        )
    return int(count)


async def expire(
    clickhouse: ClickHouse,
    workspace_id: str,
    *,
    events_before: datetime | None,
    visits_before: datetime | None,
    kept_visits: Sequence[str],
    visit_data: PersonalData,
    scrub: Callable[[str], str],
) -> dict[str, int]:
    return await asyncio.to_thread(
        lambda: expire_sync(
            clickhouse,
            workspace_id,
            events_before=events_before,
            visits_before=visits_before,
            kept_visits=kept_visits,
            visit_data=visit_data,
            scrub=scrub,
        )
    )
