"""leads.seq and, on SQLite, the search table leads_search (FTS5, trigram tokenizer)

``search`` looks for a substring of a lead's name, email or phone. PostgreSQL answers it from
its trigram index (``ix_leads_search``); SQLite read every lead of the workspace. Here SQLite
gets an FTS5 table whose trigram tokenizer indexes every three characters of those fields, so
a term of three or more characters is looked up instead of searched for.

An FTS5 row is keyed by an integer, and the leads table has none that lasts: its primary key
is text, so its rowid may change on VACUUM. ``leads.seq`` is that key: unique, filled here for
the existing leads and, for new ones, by the insert trigger below (one more than the largest,
which the unique index finds at once). The table keeps no copy of the text (``content=leads``:
it reads the lead when it needs to), and triggers on ``leads`` keep it in step with every
insert, update and delete, whichever path writes them (the API, imports, raw SQL).

PostgreSQL gets the column and its (partial, so empty) index only, for one schema on both: it
searches with the trigram index over the row itself and leaves ``seq`` NULL.

Revision ID: 2d77c8b491cf
Revises: 8b41c7e2d905
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2d77c8b491cf"
down_revision: str | None = "8b41c7e2d905"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PRESENT = sa.text("seq IS NOT NULL")

# Each field search looks in is a column of its own: its trigrams never span two fields, as
# a search never matches across fields. columnsize=0: no per-row token counts, which only
# ranking (bm25) would read. content='leads': no copy of the text.
_CREATE_TABLE = """
    CREATE VIRTUAL TABLE leads_search USING fts5(
        name, email, phone, phone_e164,
        content='leads', content_rowid='seq', tokenize='trigram', columnsize=0
    )"""

# An external-content FTS5 table forgets a row only when told the values it indexed, so a
# row leaves the index with its old values and comes back with its new ones whenever its seq
# or one of its fields changes. Assigning seq on insert is such an update (from NULL): the
# insert trigger assigns it when the insert did not, and the update trigger indexes the row.
_TRIGGERS = {
    "leads_search_insert": """
        CREATE TRIGGER leads_search_insert AFTER INSERT ON leads BEGIN
            UPDATE leads
               SET seq = coalesce((SELECT max(seq) FROM leads WHERE seq IS NOT NULL), 0) + 1
             WHERE rowid = new.rowid AND new.seq IS NULL;
            INSERT INTO leads_search (rowid, name, email, phone, phone_e164)
            SELECT new.seq, new.name, new.email, new.phone, new.phone_e164
             WHERE new.seq IS NOT NULL;
        END""",
    "leads_search_update": """
        CREATE TRIGGER leads_search_update
        AFTER UPDATE OF seq, name, email, phone, phone_e164 ON leads
        WHEN old.seq IS NOT new.seq
          OR old.name IS NOT new.name
          OR old.email IS NOT new.email
          OR old.phone IS NOT new.phone
          OR old.phone_e164 IS NOT new.phone_e164
        BEGIN
            INSERT INTO leads_search (leads_search, rowid, name, email, phone, phone_e164)
            SELECT 'delete', old.seq, old.name, old.email, old.phone, old.phone_e164
             WHERE old.seq IS NOT NULL;
            INSERT INTO leads_search (rowid, name, email, phone, phone_e164)
            SELECT new.seq, new.name, new.email, new.phone, new.phone_e164
             WHERE new.seq IS NOT NULL;
        END""",
    "leads_search_delete": """
        CREATE TRIGGER leads_search_delete AFTER DELETE ON leads BEGIN
            INSERT INTO leads_search (leads_search, rowid, name, email, phone, phone_e164)
            SELECT 'delete', old.seq, old.name, old.email, old.phone, old.phone_e164
             WHERE old.seq IS NOT NULL;
        END""",
}


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _check_trigram_tokenizer() -> None:
    """FTS5's trigram tokenizer came with SQLite 3.34 (2020); say so plainly where it is
    missing rather than fail on the CREATE."""
    version = op.get_bind().execute(sa.text("SELECT sqlite_version()")).scalar_one()
    try:
        with op.get_bind().begin_nested():
            op.execute("CREATE VIRTUAL TABLE temp.trigram_probe USING fts5(x, tokenize='trigram')")
            op.execute("DROP TABLE temp.trigram_probe")
    except sa.exc.OperationalError as exc:
        raise RuntimeError(
            f"Leadline needs SQLite 3.34 or later built with FTS5 (this Python has SQLite "
            f"{version}: {exc.orig}); upgrade Python or the system SQLite it links"
        ) from None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases (batch mode would recreate the table and drop the
    # expression indexes SQLite cannot reflect).
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
    if _sqlite():
        # Today's rowids are unique integers: a fine first numbering.
        op.execute("UPDATE leads SET seq = rowid")
    op.create_index(
        "uq_leads_seq",
        "leads",
        ["seq"],
        unique=True,
        sqlite_where=_PRESENT,
        postgresql_where=_PRESENT,
    )
    if not _sqlite():
        return
    _check_trigram_tokenizer()
    op.execute(_CREATE_TABLE)
    # Index the existing leads, in as few segments as can be: a search reads each of them.
    op.execute("INSERT INTO leads_search (leads_search) VALUES ('rebuild')")
    op.execute("INSERT INTO leads_search (leads_search) VALUES ('optimize')")
    # Later writes add segments; the job leads.merge_search_index merges them down, two of a
    # size being enough (the default waits for four).
    op.execute("INSERT INTO leads_search (leads_search, rank) VALUES ('usermerge', 2)")
    for trigger in _TRIGGERS.values():
        op.execute(trigger)


def downgrade() -> None:
    if _sqlite():
        for name in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS leads_search")
    op.drop_index("uq_leads_seq", table_name="leads")
    # SQLite (3.35 and later) drops a column in place; batch mode would recreate the table.
    op.drop_column("leads", "seq")
