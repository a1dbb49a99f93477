"""Lead import from CSV and Excel files: rows to leads, all or nothing, never twice.

An import reads its file twice. The first pass validates every row and writes nothing, so a
file with an invalid row is refused whole (unless the caller asked to skip invalid rows). The
second pass writes the valid rows in batches, each committed in a transaction of its own, so
memory stays flat however long the file is (docs/adr/0004-lead-import-batches.md). Every
imported lead carries an import key, unique per workspace: rows imported before are counted as
duplicates and left alone, so importing a file again, or a file that overlaps an earlier one,
or running an import again after it was cut short, never makes a lead twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import IO

from sqlalchemy.exc import IntegrityError

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.auth.roles import Role
from leadline.auth.service import Principal
from leadline.db import Database
from leadline.errors import Conflict, Unprocessable, ValidationFailed
from leadline.kit import tables
from leadline.kit.tables import Table, TableLimits
from leadline.kit.time import utcnow
from leadline.leads import service as leads
from leadline.leads.import_rows import (
    ColumnPlan,
    ColumnUse,
    ParsedRow,
    RowError,
    RowProblem,
    column_uses,
    parse_row,
    plan_columns,
    row_error,
)
from leadline.leads.repository import LeadRepository
from leadline.leads.schemas import LeadSource
from leadline.workspaces import service as workspaces

BATCH_SIZE = 500
# Rejected rows listed in an answer; the count covers them all.
MAX_REPORTED = 100
# How often the first pass reports progress, in rows.
PROGRESS_EVERY = 1000

# phase ("validating" or "writing"), rows done, rows to do (None while unknown).
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class ImportOptions:
    """``mapping``: column header -> field (any of its names), or ``-``/empty/None to leave
    the column out. ``status_mapping``: a value of the status column -> a status."""

    mapping: Mapping[str, str | None] = field(default_factory=dict)
    status_mapping: Mapping[str, str] = field(default_factory=dict)
    skip_invalid: bool = False
    sheet: str | None = None
    # Whether each created lead sends its lead.created webhook event.
    webhooks: bool = True


@dataclass
class ImportResult:
    format: str
    sheet: str | None
    columns: list[ColumnUse]
    rows: int = 0
    created: int = 0
    duplicates: int = 0
    invalid: int = 0
    rejected: list[RowError] = field(default_factory=list)

    @property
    def custom_columns(self) -> list[str]:
        """The columns no field takes, kept in each lead's custom data."""
        return [use.column for use in self.columns if use.kept_in_custom]


class RowsRejected(Unprocessable):
    """The file has invalid rows and the caller did not ask to skip them: nothing written."""

    code = "invalid_rows"

    def __init__(self, result: ImportResult) -> None:
        shown = len(result.rejected)
        if result.invalid == 1:
            listed = "it is listed"
        elif shown == result.invalid:
            listed = "they are listed"
        else:
            listed = f"the first {shown} are listed"
        super().__init__(
            f"nothing was imported: {result.invalid} of {result.rows} rows are invalid "
            f"({listed}); correct them, or import the valid rows alone (skip invalid rows)",
            details={
                "rows": result.rows,
                "invalid": result.invalid,
                "rejectedRows": [error.as_dict() for error in result.rejected],
            },
        )
        self.result = result


# ------------------------------------------------------------------------------------- passes


@dataclass
class _Checked:
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    rejected: list[RowError] = field(default_factory=list)


def _validate(table: Table, plan: ColumnPlan, progress: Progress | None) -> _Checked:
    """The first pass: every row parsed, nothing kept but the counts and the first errors."""
    checked = _Checked()
    for row in table.rows():
        checked.rows += 1
        try:
            parse_row(plan, row)
        except RowProblem as problem:
            checked.invalid += 1
            if len(checked.rejected) < MAX_REPORTED:
                checked.rejected.append(row_error(plan, row, problem))
        else:
            checked.valid += 1
        if progress is not None and checked.rows % PROGRESS_EVERY == 0:
            progress("validating", checked.rows, None)
    if progress is not None:
        progress("validating", checked.rows, checked.rows)
    return checked


def _valid_rows(table: Table, plan: ColumnPlan) -> Iterator[ParsedRow]:
    for row in table.rows():
        try:
            yield parse_row(plan, row)
        except RowProblem:
            continue  # counted by the first pass


def _take(rows: Iterator[ParsedRow], count: int) -> list[ParsedRow]:
    return list(islice(rows, count))


class _Writer:
    """Creates the leads of each batch in a transaction of its own, as the API creates one
    (history, facets, lead.created webhook and audit event included), skipping rows whose
    import key a lead of the workspace already has."""

    def __init__(
        self, db: Database, principal: Principal, actor: Actor, *, announce: bool = True
    ) -> None:
        self.db = db
        self.principal = principal
        self.actor = actor
        self.announce = announce
        self.created = 0
        self.duplicates = 0

    async def write(self, batch: Sequence[ParsedRow]) -> None:
        try:
            created, duplicates = await self._write_once(batch)
        except IntegrityError:
            # Another import wrote one of these rows between our look-up and our insert; the
            # batch was rolled back whole, and a second look-up sees that import's leads.
            try:
                created, duplicates = await self._write_once(batch)
            except IntegrityError:
                raise Conflict(
                    "another import is writing the same rows; run this import again once it "
                    "is done (rows already imported are not imported twice)"
                ) from None
        self.created += created
        self.duplicates += duplicates

    async def _write_once(self, batch: Sequence[ParsedRow]) -> tuple[int, int]:
        async with self.db.transaction() as session:
            keys = [row.history.import_key for row in batch if row.history.import_key]
            seen = await LeadRepository(session).existing_import_keys(
                self.principal.workspace_id, keys
            )
            new: list[leads.NewLead] = []
            for row in batch:
                key = row.history.import_key
                if key in seen:
                    continue  # imported before, or earlier in this file
                if key is not None:
                    seen.add(key)
                new.append(leads.NewLead(row.data, row.history))
            await leads.create_leads(
                session,
                self.principal,
                new,
                source=LeadSource.IMPORT,
                actor=self.actor,
                announce=self.announce,
            )
        return len(new), len(batch) - len(new)


async def import_leads(
    db: Database,
    principal: Principal,
    file: IO[bytes],
    *,
    filename: str | None = None,
    options: ImportOptions | None = None,
    actor: Actor | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import a CSV file or a workbook into the principal's workspace.

    ``file`` must be seekable. The work that reads the file runs in a thread, so a server's
    event loop keeps answering while a large file is parsed. Raises ``ValidationFailed`` for a
    file or mapping that cannot be used, ``PayloadTooLarge`` for a file past the import limits
    (its size, unpacked; its rows; a cell's length), ``UnsupportedMediaType`` for a file of
    another kind and ``RowsRejected`` for invalid rows (unless ``skip_invalid``): then nothing
    is written.
    """
    options = options or ImportOptions()
    actor = actor or principal.actor
    settings = db.settings
    limits = TableLimits(
        max_bytes=settings.import_max_data_bytes, max_rows=settings.import_max_rows
    )
    table = await asyncio.to_thread(tables.open_table, file, sheet=options.sheet, limits=limits)
    try:
        plan = plan_columns(table.header, options.mapping, options.status_mapping, utcnow())
        result = ImportResult(
            format=table.format,
            sheet=table.sheet,
            columns=column_uses(plan),
        )
        checked = await asyncio.to_thread(_validate, table, plan, progress)
        result.rows, result.invalid, result.rejected = (
            checked.rows,
            checked.invalid,
            checked.rejected,
        )
        if checked.rows == 0:
            raise ValidationFailed("the file has a header but no rows")
        if checked.invalid and not options.skip_invalid:
            raise RowsRejected(result)

        writer = _Writer(db, principal, actor, announce=options.webhooks)
        rows = _valid_rows(table, plan)
        if progress is not None:
            progress("writing", 0, checked.valid)
        while batch := await asyncio.to_thread(_take, rows, BATCH_SIZE):
            await writer.write(batch)
            if progress is not None:
                progress("writing", writer.created + writer.duplicates, checked.valid)
        result.created, result.duplicates = writer.created, writer.duplicates
    finally:
        table.close()

    async with db.transaction() as session:
        await audit.record(
            session,
            principal.workspace_id,
            actor,
            "leads.imported",
            "lead",
            None,
            {
                "file": (None, filename),
                "format": (None, result.format),
                "sheet": (None, result.sheet),
                "rows": (None, result.rows),
                "created": (None, result.created),
                "duplicates": (None, result.duplicates),
                "invalid": (None, result.invalid),
                "webhooks": (None, options.webhooks),
            },
        )
    return result


async def import_file_for(
    db: Database,
    workspace_slug: str,
    file: IO[bytes],
    *,
    filename: str | None = None,
    options: ImportOptions | None = None,
    actor: Actor | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """An import run from the command line: into a workspace named by its slug, which must
    exist, with an administrator's rights."""
    async with db.transaction() as session:
        workspace = await workspaces.require(session, workspace_slug)
    principal = Principal(workspace=workspace, key_id="", role=Role.ADMIN)
    return await import_leads(
        db,
        principal,
        file,
        filename=filename,
        options=options,
        actor=actor or Actor.cli(),
        progress=progress,
    )
