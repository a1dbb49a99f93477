"""A tracked visit is a visit in the schema too: sessions -> visits, session_id -> visit_id

The table ``sessions`` becomes ``visits``; the columns that name a visit (``events``,
``leads``, ``lead_submissions``) become ``visit_id``; the daily rollups count ``visits``. The
indexes and constraints follow their tables' names. Nothing is copied on PostgreSQL (renames
only); on SQLite ``events`` is rebuilt once, because SQLite cannot rename the unique constraint
that lets a beacon sent twice be stored once.

Revision ID: 8b41c7e2d905
Revises: 3d9e6b1f0a52
Create Date: 2026-12-06 20:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "8b41c7e2d905"
down_revision: str | None = "3d9e6b1f0a52"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Old name -> new name, for each direction.
_TABLE = ("sessions", "visits")
_INDEXES = {
    # index: (table after the rename, columns)
    ("ix_sessions_workspace_id", "ix_visits_workspace_id"): ("visits", ["workspace_id"]),
    ("ix_sessions_site_started", "ix_visits_site_started"): ("visits", ["site_id", "started_at"]),
    ("ix_sessions_site_visitor_started", "ix_visits_site_visitor_started"): (
        "visits",
        ["site_id", "visitor_id", "started_at"],
    ),
    ("ix_leads_session_id", "ix_leads_visit_id"): ("leads", ["visit_id"]),
}
_CONSTRAINTS = {
    # PostgreSQL only: SQLite keeps constraint names inside the table's text.
    "visits": [
        ("pk_sessions", "pk_visits"),
        ("fk_sessions_workspace_id_workspaces", "fk_visits_workspace_id_workspaces"),
        ("fk_sessions_site_id_sites", "fk_visits_site_id_sites"),
    ],
    "leads": [("fk_leads_session_id_sessions", "fk_leads_visit_id_visits")],
    "events": [("uq_events_client_id_session_id", "uq_events_client_id_visit_id")],
}
_COLUMNS = [
    ("leads", "session_id", "visit_id"),
    ("lead_submissions", "session_id", "visit_id"),
    ("tracking_daily", "sessions", "visits"),
]


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    _rename(forward=True)


def downgrade() -> None:
    _rename(forward=False)


def _rename(*, forward: bool) -> None:
    def pick(pair: tuple[str, str]) -> tuple[str, str]:
        return pair if forward else (pair[1], pair[0])

    old_table, new_table = pick(_TABLE)
    # ALTER TABLE ... RENAME on both databases: SQLite (3.26 and later) points the foreign keys
    # of other tables at the new name itself.
    op.rename_table(old_table, new_table)
    for table, old_name, new_name in _COLUMNS:
        old, new = pick((old_name, new_name))
        op.execute(f'ALTER TABLE "{table}" RENAME COLUMN "{old}" TO "{new}"')
    _rename_events(forward)
    for (old_index, new_index), (table, columns) in _INDEXES.items():
        before, after = pick((old_index, new_index))
        renamed = [_column(column, forward) for column in columns]
        if _postgresql():
            op.execute(f'ALTER INDEX "{before}" RENAME TO "{after}"')
        else:
            table_now = table if forward or table != "visits" else "sessions"
            op.drop_index(before, table_name=table_now)
            op.create_index(after, table_now, renamed)
    if _postgresql():
        for table, pairs in _CONSTRAINTS.items():
            if table == "events":
                continue
            table_now = table if forward or table != "visits" else "sessions"
            for pair in pairs:
                before, after = pick(pair)
                op.execute(f'ALTER TABLE "{table_now}" RENAME CONSTRAINT "{before}" TO "{after}"')


def _column(name: str, forward: bool) -> str:
    if forward:
        return name
    return "session_id" if name == "visit_id" else name


def _rename_events(forward: bool) -> None:
    old_column, new_column = ("session_id", "visit_id") if forward else ("visit_id", "session_id")
    old_unique, new_unique = _CONSTRAINTS["events"][0]
    if not forward:
        old_unique, new_unique = new_unique, old_unique
    if _postgresql():
        op.execute(f'ALTER TABLE events RENAME COLUMN "{old_column}" TO "{new_column}"')
        op.execute(f'ALTER TABLE events RENAME CONSTRAINT "{old_unique}" TO "{new_unique}"')
        return
    # SQLite keeps a constraint's name in its table's text: the table is made again, with
    # its rows, under the same definition and the new names.
    op.execute(
        f"""CREATE TABLE events_renamed (
        id INTEGER NOT NULL,
        workspace_id VARCHAR(40) NOT NULL,
        site_id VARCHAR(40) NOT NULL,
        {new_column} VARCHAR(64) NOT NULL,
        client_id VARCHAR(64) NOT NULL,
        type VARCHAR(64) NOT NULL,
        occurred_at DATETIME NOT NULL,
        received_at DATETIME NOT NULL,
        url VARCHAR(2048),
        data TEXT NOT NULL,
        CONSTRAINT pk_events PRIMARY KEY (id),
        CONSTRAINT {new_unique} UNIQUE (client_id, {new_column})
    )"""
    )
    op.execute(
        f"INSERT INTO events_renamed (id, workspace_id, site_id, {new_column}, client_id, type,"  # noqa: S608
        " occurred_at, received_at, url, data)"
        f" SELECT id, workspace_id, site_id, {old_column}, client_id, type, occurred_at,"
        " received_at, url, data FROM events"
    )
    op.execute("DROP TABLE events")
    op.execute("ALTER TABLE events_renamed RENAME TO events")
    op.create_index("ix_events_site_received", "events", ["site_id", "received_at"])
