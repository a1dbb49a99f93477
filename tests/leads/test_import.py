"""Lead import from CSV and Excel files with ``leadline leads import``: formats, columns,
dates, statuses, all or nothing, duplicates, batches, and what each created lead sets off."""

from __future__ import annotations

import io
import json
import resource
import tracemalloc
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import Result
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from leadline.cli import app
from leadline.config import Settings, get_settings
from leadline.kit import tables
from leadline.leads import import_rows, imports
from leadline.leads import service as lead_service
from leadline.models import Lead, Workspace
from tests.fixtures.factories import fetch_rows, make_key, make_webhook_endpoint
from tests.fixtures.workbooks import MIB, SHARED_STRINGS, declare_size, zip_bomb

# ------------------------------------------------------------------------------- helpers


def run(cli: CliRunner, path: Path, *args: str, workspace: str = "acme") -> Result:
    return cli.invoke(app, ["leads", "import", str(path), "--workspace", workspace, *args])


def write(tmp_path: Path, text: str, name: str = "leads.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def stored(settings: Settings, workspace: str = "acme") -> list[dict[str, Any]]:
    """The workspace's leads as the application reads them (aware times, exact amounts)."""
    engine = create_engine(settings.sync_url)
    try:
        with Session(engine) as session:
            found = session.scalars(
                select(Lead)
                .join(Workspace, Workspace.id == Lead.workspace_id)
                .where(Workspace.slug == workspace)
                .order_by(Lead.email, Lead.name)
            )
            return [
                {column.key: getattr(lead, column.key) for column in Lead.__mapper__.column_attrs}
                for lead in found
            ]
    finally:
        engine.dispose()


def lead_count(settings: Settings) -> int:
    return int(fetch_rows(settings, "SELECT COUNT(*) AS n FROM leads")[0]["n"])


@pytest.fixture
def acme(settings: Settings) -> str:
    """Workspace acme, and an admin key of it."""
    return make_key(settings, "acme", "admin")


def summary(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


# ------------------------------------------------------------------------------- formats


def test_csv_import_creates_leads_with_source_import(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "E-mail,Phone number,Full name,Created,Status,Value,Currency,gclid,utm_source,"
        "UTM Campaign,ad_storage,Website,Path,Note\n"
        "Ada@Example.com,+44 20 7946 0000,Ada Lovelace,2026-03-10,won,5000,gbp,Cj0-ada,google,"
        "spring,granted,https://shop.example,/pricing,Met at the fair\n"
        "bob@example.com,,Bob,2026-03-11T09:30:00Z,,,,,,,denied,,,\n",
    )

    result = run(cli, path)

    assert summary(result) == (
        "imported 2 leads into workspace 'acme': 2 created, 0 duplicates, 0 invalid"
    )
    ada, bob = stored(settings)
    assert ada["email"] == "Ada@example.com"  # the domain normalised, as the API stores it
    assert ada["source"] == bob["source"] == "import"
    assert (ada["name"], ada["phone"], ada["phone_e164"]) == (
        "Ada Lovelace",
        "+44 20 7946 0000",
        "+442079460000",
    )
    assert (ada["status"], ada["value"], ada["currency"]) == ("won", 5000, "GBP")
    assert (ada["gclid"], ada["utm_source"], ada["utm_campaign"]) == ("Cj0-ada", "google", "spring")
    assert (ada["website"], ada["path"], ada["note"]) == (
        "https://shop.example",
        "/pricing",
        "Met at the fair",
    )
    assert ada["ad_storage"] is True
    assert bob["ad_storage"] is False
    assert (ada["created_at"]) == datetime(2026, 3, 10, tzinfo=UTC)
    # Won on import: qualified when it was created, and its click expires 90 days after that.
    assert (ada["qualified_at"]) == datetime(2026, 3, 10, tzinfo=UTC)
    assert (ada["expires_at"]) == datetime(2026, 6, 8, tzinfo=UTC)
    assert (bob["status"], bob["qualified_at"], bob["phone"]) == ("open", None, None)
    assert (bob["created_at"]) == datetime(2026, 3, 11, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("bom", [False, True])
def test_csv_delimiter_is_sniffed_and_a_bom_ignored(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path, delimiter: str, bom: bool
) -> None:
    rows = [
        ["email", "name", "note"],
        ["ada@example.com", "Ada", "likes, commas; and semicolons"],
        ["bob@example.com", "Bob", ""],
    ]
    text = "".join(
        delimiter.join(f'"{cell}"' if ("," in cell or ";" in cell) else cell for cell in row)
        + "\r\n"
        for row in rows
    )
    path = write(tmp_path, text, bom=bom)

    result = run(cli, path)

    assert summary(result).endswith("2 created, 0 duplicates, 0 invalid")
    assert [(r["email"], r["name"], r["note"]) for r in stored(settings)] == [
        ("ada@example.com", "Ada", "likes, commas; and semicolons"),
        ("bob@example.com", "Bob", None),
    ]


def test_csv_quoted_cells_across_lines_and_row_numbers(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        'email,note,created\nada@example.com,"two\nlines",2026-03-10\n\nbob@example.com,,someday\n',
    )

    result = run(cli, path)

    assert result.exit_code == 1
    # The header is row 1; the bad row starts on line 5 (after a two-line cell and a blank).
    assert "row 5, column 'created': 'someday' is not a date" in result.stderr
    assert lead_count(settings) == 0


def workbook(rows: list[list[Any]], title: str = "Leads", **others: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(row)
    for name, other_rows in others.items():
        other = book.create_sheet(name)
        for row in other_rows:
            other.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_xlsx_with_date_cells_numbers_and_booleans(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    path = tmp_path / "export.xlsx"
    path.write_bytes(
        workbook(
            [
                ["Email", "Phone", "Created", "Value", "ad_user_data", "Status"],
                [
                    "ada@example.com",
                    31612345678,
                    datetime(2026, 3, 10, 14, 30),
                    1500.5,
                    True,
                    "Win",
                ],
                [],  # an empty row in between is left out
                ["bob@example.com", "+31 6 12345679", date(2026, 3, 11), 7, False, None],
            ]
        )
    )

    result = run(cli, path)

    assert summary(result).endswith("2 created, 0 duplicates, 0 invalid")
    ada, bob = stored(settings)
    assert ada["phone"] == "31612345678"  # a number cell, read as people read it
    assert (ada["created_at"]) == datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
    assert (ada["value"], ada["ad_user_data"], ada["status"]) == (
        Decimal("1500.5"),
        True,
        "won",
    )
    assert (bob["created_at"]) == datetime(2026, 3, 11, tzinfo=UTC)
    assert (bob["phone_e164"], bob["ad_user_data"], bob["status"]) == (
        "+31612345679",
        False,
        "open",
    )


def test_xlsx_sheet_by_name_and_unknown_sheet(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    path = tmp_path / "book.xlsx"
    path.write_bytes(
        workbook(
            [["Instructions"], ["the leads are on the next sheet"]],
            title="Read me",
            Leads=[["email"], ["ada@example.com"]],
        )
    )

    first = run(cli, path)
    assert first.exit_code == 1
    assert "none of the file's columns is a lead field" in first.stderr

    missing = run(cli, path, "--sheet", "Contacts")
    assert missing.exit_code == 1
    assert "no sheet 'Contacts'; its sheets are 'Read me', 'Leads'" in missing.stderr

    named = run(cli, path, "--sheet", "leads")  # sheet names are matched regardless of case
    assert summary(named).endswith("1 created, 0 duplicates, 0 invalid")
    assert [r["email"] for r in stored(settings)] == ["ada@example.com"]


def test_format_is_told_by_content_not_by_name(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    disguised = tmp_path / "leads.csv"
    disguised.write_bytes(workbook([["email"], ["ada@example.com"]]))
    assert summary(run(cli, disguised)).endswith("1 created, 0 duplicates, 0 invalid")

    named_xlsx = write(tmp_path, "email\nbob@example.com\n", name="leads.xlsx")
    assert summary(run(cli, named_xlsx)).endswith("1 created, 0 duplicates, 0 invalid")
    assert lead_count(settings) == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "Excel 97-2003 workbook (.xls)"),
        (b"\xff\xfee\x00m\x00", "UTF-16 text; save it as CSV UTF-8"),
        (b"PK\x03\x04" + b"\x00" * 40, "damaged"),
        (b"email,name\nada@example.com,Ad\xe9le\n", "line 2 is not UTF-8 text (byte 0xe9"),
        (b"email\n", "the file has a header but no rows"),
        (b"Company,Country\nAcme,NL\n", "none of the file's columns is a lead field"),
        (b"Email,E-mail\na@example.com,b@example.com\n", "'Email' and 'E-mail' both fill email"),
        (b'email,note\nada@example.com,"never closed\n', "the CSV is malformed"),
        (b'email,note\nada@example.com,"quoted" then not\n', "line 2: the CSV is malformed"),
    ],
)
def test_files_that_cannot_be_imported(
    cli: CliRunner,
    settings: Settings,
    acme: str,
    tmp_path: Path,
    content: bytes,
    expected: str,
) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(content)

    result = run(cli, path)

    assert result.exit_code == 1
    assert expected in result.stderr
    assert lead_count(settings) == 0


def test_zip_archives_that_are_not_workbooks(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    import zipfile

    for name, members, expected in (
        ("a.zip", {"leads.csv": "email\n"}, "a zip archive, not an Excel workbook"),
        (
            "a.ods",
            {"mimetype": "application/vnd.oasis.opendocument.spreadsheet", "content.xml": ""},
            "an OpenDocument spreadsheet (.ods)",
        ),
    ):
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as archive:
            for member, text in members.items():
                archive.writestr(member, text)
        result = run(cli, path)
        assert result.exit_code == 1
        assert expected in result.stderr
    assert lead_count(settings) == 0


# --------------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2026-03-10", datetime(2026, 3, 10, tzinfo=UTC)),
        ("03/10/2026", datetime(2026, 3, 10, tzinfo=UTC)),
        ("3/9/2026", datetime(2026, 3, 9, tzinfo=UTC)),
        ("2026-03-10T14:30:00Z", datetime(2026, 3, 10, 14, 30, tzinfo=UTC)),
        ("2026-03-10T14:30:00+02:00", datetime(2026, 3, 10, 12, 30, tzinfo=UTC)),
        ("2026-03-10 14:30", datetime(2026, 3, 10, 14, 30, tzinfo=UTC)),
        ("2026-03-10T14:30:00.250", datetime(2026, 3, 10, 14, 30, 0, 250000, tzinfo=UTC)),
    ],
)
def test_date_formats(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path, cell: str, expected: datetime
) -> None:
    path = write(tmp_path, f"email,date\nada@example.com,{cell}\n")

    assert summary(run(cli, path)).endswith("1 created, 0 duplicates, 0 invalid")
    assert (stored(settings)[0]["created_at"]) == expected


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("10.03.2026", "'10.03.2026' is not a date; write dates as YYYY-MM-DD, MM/DD/YYYY"),
        ("31/12/2026", "'31/12/2026' is not a date; dates with slashes are read as MM/DD/YYYY"),
        ("2026-02-30", "'2026-02-30' is not a date"),
        ("yesterday", "'yesterday' is not a date"),
        ("1969-12-31", "'1969-12-31' is before 1970"),
        ("2999-01-01", "'2999-01-01' is in the future"),
    ],
)
def test_a_bad_date_refuses_the_file_and_writes_nothing(
    cli: CliRunner,
    settings: Settings,
    acme: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cell: str,
    message: str,
) -> None:
    # Batches of two: the bad row comes after whole batches of good ones, which must not be
    # written either, since every row is checked before the first write.
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    lines = [f"user{n}@example.com,2026-03-0{n}" for n in range(1, 6)]
    lines.append(f"late@example.com,{cell}")
    path = write(tmp_path, "Email,Created\n" + "\n".join(lines) + "\n")

    result = run(cli, path)

    assert result.exit_code == 1
    assert f"row 7, column 'Created': {message}" in result.stderr
    assert "nothing was imported: 1 of 6 rows are invalid" in result.stderr
    assert "--skip-invalid" in result.stderr
    assert result.stdout == ""
    assert lead_count(settings) == 0


def test_empty_cells_are_missing_values(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "email,created,status,value,ad_storage\nada@example.com, , ,,\n")

    assert summary(run(cli, path)).endswith("1 created, 0 duplicates, 0 invalid")
    (ada,) = stored(settings)
    assert (ada["status"], ada["value"], ada["ad_storage"]) == ("open", None, None)
    assert ada["created_at"] is not None  # no created date: the import's time


# ---------------------------------------------------------------------- mapping, statuses


def test_column_and_status_mapping(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "Work mail,Stage,Internal,Contact,Deal\n"
        "ada@example.com,Converted Leads,secret,Ada,1200\n"
        "bob@example.com,Rejected,,Bob,\n"
        "cy@example.com,qualified,,Cy,\n",
    )

    result = run(
        cli,
        path,
        "--map",
        "Work mail=email",
        "--map",
        "Stage=status",
        "--map",
        "Internal=-",
        "--map",
        "deal=Value",  # headers and field names both match regardless of case
        "--status",
        "Converted Leads=won",
        "--status",
        "rejected=lost",
    )

    assert summary(result).endswith("3 created, 0 duplicates, 0 invalid")
    ada, bob, cy = stored(settings)
    assert (ada["email"], ada["name"], ada["status"], ada["value"]) == (
        "ada@example.com",
        "Ada",
        "won",
        1200,
    )
    assert ada["custom"] is None  # Internal was left out
    assert (bob["status"], cy["status"]) == ("lost", "qualified")
    assert ada["qualified_at"] is not None
    assert cy["qualified_at"] is not None
    assert bob["qualified_at"] is None


def test_an_unmapped_status_names_the_way_out(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "email,status\nada@example.com,Converted Leads\n")

    result = run(cli, path)

    assert result.exit_code == 1
    assert "row 2, column 'status': 'Converted Leads' is not a status" in result.stderr
    assert "status mapping" in result.stderr
    assert lead_count(settings) == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--map", "Nope=email"], "the mapping names column 'Nope', which the file does not have"),
        (["--map", "email=favourite colour"], "'favourite colour', which is not a field"),
        (["--map", "email"], "--map takes KEY=VALUE"),
        (["--status", "Converted=champion"], "'champion', which is not a status"),
        (["--sheet", "Leads"], "the file is CSV text, which has no sheets"),
    ],
)
def test_bad_options_are_refused(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path, args: list[str], expected: str
) -> None:
    path = write(tmp_path, "email\nada@example.com\n")

    result = run(cli, path, *args)

    assert result.exit_code == 1
    assert expected in result.stderr
    assert lead_count(settings) == 0


def test_first_and_last_names_make_the_name(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "First name,Last name,email\nAda,Lovelace,\nGrace,,g@example.com\n")

    assert summary(run(cli, path)).endswith("2 created, 0 duplicates, 0 invalid")
    assert sorted(r["name"] for r in stored(settings)) == ["Ada Lovelace", "Grace"]


def test_unknown_columns_are_kept_in_custom(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        'email,Company,Country,custom\nada@example.com,Analytical,UK,"{""plan"": ""pro""}"\n'
        "bob@example.com,Babbage & Co,,plain text\n"
        "cy@example.com,,,\n",
    )

    result = run(cli, path)

    assert summary(result).endswith("3 created, 0 duplicates, 0 invalid")
    assert "columns kept in each lead's custom data: 'Company', 'Country'" in result.stderr
    ada, bob, cy = stored(settings)
    assert json.loads(ada["custom"]) == {"Company": "Analytical", "Country": "UK", "plan": "pro"}
    assert json.loads(bob["custom"]) == {"Company": "Babbage & Co", "custom": "plain text"}
    assert cy["custom"] is None


def test_cells_past_the_last_header_are_kept_in_custom_by_position(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "email,Company\nada@example.com,Analytical,UK,,Ada's note\n")

    assert summary(run(cli, path)).endswith("1 created, 0 duplicates, 0 invalid")
    (ada,) = stored(settings)
    assert json.loads(ada["custom"]) == {
        "Company": "Analytical",
        "column 3": "UK",
        "column 5": "Ada's note",
    }


def test_a_qualified_date_before_the_created_one_or_an_overlong_loss_reason_is_refused(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    too_long = "x" * (import_rows.MAX_LONG_TEXT + 1)
    path = write(
        tmp_path,
        "email,created,qualifiedAt,status,lossReason\n"
        "ada@example.com,2026-03-10,2026-03-09,qualified,\n"
        f"bob@example.com,2026-03-10,,lost,{too_long}\n"
        "cy@example.com,2026-03-10,2026-03-11,lost,too dear\n",
    )

    refused = run(cli, path)
    assert refused.exit_code == 1
    assert "row 2, column 'qualifiedAt': is before the created date" in refused.stderr
    assert "row 3, column 'lossReason'" in refused.stderr
    assert f"longer than {import_rows.MAX_LONG_TEXT} characters" in refused.stderr
    assert lead_count(settings) == 0

    result = run(cli, path, "--skip-invalid")
    assert summary(result).endswith("1 created, 0 duplicates, 2 invalid")
    (cy,) = stored(settings)
    assert (cy["status"], cy["loss_reason"]) == ("lost", "too dear")
    assert cy["qualified_at"] == datetime(2026, 3, 11, tzinfo=UTC)


def test_columns_left_out_are_not_read(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    # NUL bytes at the start say "binary file"; further in, they are a cell's problem.
    filler = "".join(f"user{n}@example.com,,\n" for n in range(500))
    path = write(tmp_path, f"email,Scratch,Lost because\n{filler}ada@example.com,a\x00b,too dear\n")

    assert summary(run(cli, path, "--map", "Scratch=-")).endswith(
        "501 created, 0 duplicates, 0 invalid"
    )
    ada = next(lead for lead in stored(settings) if lead["email"] == "ada@example.com")
    assert ada["custom"] == '{"Lost because":"too dear"}'  # not a field: kept in custom
    assert ada["loss_reason"] is None

    bad = write(tmp_path, f"email,Notes\n{filler}bob@example.com,a\x00b\n", name="bad.csv")
    refused = run(cli, bad)
    assert refused.exit_code == 1
    assert "row 502, column 'Notes': contains a NUL character" in refused.stderr


def test_fbclid_becomes_fbc(cli: CliRunner, settings: Settings, acme: str, tmp_path: Path) -> None:
    path = write(tmp_path, "email,fbclid,created\nada@example.com,IwAR0abc,2026-03-10\n")

    assert summary(run(cli, path)).endswith("1 created, 0 duplicates, 0 invalid")
    (ada,) = stored(settings)
    assert ada["fbc"] == "fb.1.1773100800000.IwAR0abc"
    assert ada["ad_platform"] == "meta"


def test_every_field_name_and_alias_is_recognised() -> None:
    for import_field in import_rows.FIELDS:
        for spelling in (import_field.name, import_field.label, *import_field.aliases):
            assert import_rows.field_of(spelling) == import_field.name, spelling
    assert import_rows.field_of("E-mail") == "email"
    assert import_rows.field_of(" Phone number ") == "phone"
    assert import_rows.field_of("Full_Name") == "name"
    assert import_rows.field_of("Created") == "created_at"
    assert import_rows.field_of("created_at") == "created_at"
    assert import_rows.field_of("Li-Fat-Id") == "li_fat_id"
    assert import_rows.field_of("Company") is None


# -------------------------------------------------------------------------- duplicates


def test_importing_the_same_file_again_creates_nothing(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "email,name,created\nada@example.com,Ada,2026-03-10\nbob@example.com,Bob,\n"
        ",Nameless Cy,2026-03-12\n",
    )

    assert summary(run(cli, path)) == (
        "imported 3 leads into workspace 'acme': 3 created, 0 duplicates, 0 invalid"
    )
    assert summary(run(cli, path)) == (
        "imported 3 leads into workspace 'acme': 0 created, 3 duplicates, 0 invalid"
    )
    assert lead_count(settings) == 3
    keys = {r["import_key"] for r in stored(settings)}
    assert len(keys) == 3
    assert all(key and len(key) == 64 for key in keys)


def test_an_overlapping_file_creates_only_the_new_rows(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    first = write(
        tmp_path, "email,created,status\na@example.com,2026-03-01,\nb@example.com,2026-03-02,\n"
    )
    # A later export: b again (now won, its email in other case), and a new c.
    second = write(
        tmp_path,
        "Email,Created,Status\nB@EXAMPLE.COM,2026-03-02,won\nc@example.com,2026-03-03,\n",
        name="later.csv",
    )

    assert summary(run(cli, first)).endswith("2 created, 0 duplicates, 0 invalid")
    assert summary(run(cli, second)).endswith("1 created, 1 duplicates, 0 invalid")
    assert [(r["email"], r["status"]) for r in stored(settings)] == [
        ("a@example.com", "open"),
        ("b@example.com", "open"),  # a duplicate is left as it is
        ("c@example.com", "open"),
    ]


def test_an_id_column_keys_the_rows(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    first = write(tmp_path, "CRM ID,email\n17,ada@example.com\n18,bob@example.com\n")
    # The same records exported again with changed emails: still the same rows.
    second = write(
        tmp_path, "CRM ID,email\n17,ada@newmail.example\n19,bob@example.com\n", name="b.csv"
    )

    assert summary(run(cli, first, "--map", "CRM ID=id")).endswith(
        "2 created, 0 duplicates, 0 invalid"
    )
    assert summary(run(cli, second, "--map", "CRM ID=id")).endswith(
        "1 created, 1 duplicates, 0 invalid"
    )
    assert [r["email"] for r in stored(settings)] == [
        "ada@example.com",
        "bob@example.com",
        "bob@example.com",  # id 19 is another record of the CRM
    ]


def test_a_row_twice_in_one_file_is_a_duplicate_even_across_batches(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "BATCH_SIZE", 3)
    lines = [f"user{n}@example.com" for n in range(7)] + ["user1@example.com", "user6@example.com"]
    path = write(tmp_path, "email\n" + "\n".join(lines) + "\n")

    assert summary(run(cli, path)).endswith("7 created, 2 duplicates, 0 invalid")
    assert lead_count(settings) == 7


def test_workspaces_have_their_own_import_keys(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    make_key(settings, "globex", "admin")
    path = write(tmp_path, "email\nada@example.com\n")

    assert summary(run(cli, path)).endswith("1 created, 0 duplicates, 0 invalid")
    other = run(cli, path, workspace="globex")
    assert summary(other) == (
        "imported 1 leads into workspace 'globex': 1 created, 0 duplicates, 0 invalid"
    )
    assert len(stored(settings, "acme")) == len(stored(settings, "globex")) == 1


def test_a_run_cut_short_is_finished_by_running_it_again(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "BATCH_SIZE", 4)
    path = write(tmp_path, "email\n" + "".join(f"user{n}@example.com\n" for n in range(10)))
    real = lead_service.create_leads
    calls = 0

    async def failing_third_batch(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the machine went down")
        return await real(*args, **kwargs)

    monkeypatch.setattr(lead_service, "create_leads", failing_third_batch)
    crashed = run(cli, path)
    assert crashed.exit_code != 0
    assert lead_count(settings) == 8  # two batches were committed

    monkeypatch.setattr(lead_service, "create_leads", real)
    assert summary(run(cli, path)).endswith("2 created, 8 duplicates, 0 invalid")
    assert lead_count(settings) == 10


def test_a_batch_that_races_another_import_is_written_again(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadline.leads.repository import LeadRepository

    path = write(tmp_path, "email\na@example.com\nb@example.com\n")
    assert summary(run(cli, path)).endswith("2 created, 0 duplicates, 0 invalid")
    real = LeadRepository.existing_import_keys
    looked_up = 0

    async def blind_first(self: LeadRepository, workspace_id: str, keys: Any) -> set[str]:
        # As if another import's rows were committed just after this batch looked.
        nonlocal looked_up
        looked_up += 1
        return set() if looked_up == 1 else await real(self, workspace_id, keys)

    monkeypatch.setattr(LeadRepository, "existing_import_keys", blind_first)
    assert summary(run(cli, path)).endswith("0 created, 2 duplicates, 0 invalid")
    assert looked_up == 2

    async def blind(self: LeadRepository, workspace_id: str, keys: Any) -> set[str]:
        return set()

    monkeypatch.setattr(LeadRepository, "existing_import_keys", blind)
    refused = run(cli, path)
    assert refused.exit_code == 1
    assert "another import is writing the same rows" in refused.stderr
    assert lead_count(settings) == 2


# ------------------------------------------------------------------------- skip invalid


def test_skip_invalid_imports_the_valid_rows_and_lists_the_others(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "email,created,value,phone\n"
        "ada@example.com,2026-03-10,10,\n"
        "not-an-email,2026-03-10,,\n"
        "bob@example.com,someday,,\n"
        "cy@example.com,,ten,\n"
        "dee@example.com,,,call me\n"
        "eve@example.com,,,\n",
    )

    refused = run(cli, path)
    assert refused.exit_code == 1
    assert "row 3, column 'email': email is not a valid address" in refused.stderr
    assert "row 4, column 'created'" in refused.stderr
    assert "row 5, column 'value'" in refused.stderr
    assert "row 6, column 'phone': phone must be a phone number" in refused.stderr
    assert lead_count(settings) == 0

    result = run(cli, path, "--skip-invalid")
    assert summary(result) == (
        "imported 6 leads into workspace 'acme': 2 created, 0 duplicates, 4 invalid"
    )
    assert "skipped row 3, column 'email'" in result.stderr
    assert [r["email"] for r in stored(settings)] == ["ada@example.com", "eve@example.com"]


def test_the_list_of_invalid_rows_is_capped(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "email,created\n" + "".join(f"u{n}@example.com,x\n" for n in range(130)))

    result = run(cli, path)

    assert result.exit_code == 1
    assert result.stderr.count("is not a date") == imports.MAX_REPORTED
    assert "... and 30 more invalid rows" in result.stderr
    assert "130 of 130 rows are invalid" in result.stderr


# ---------------------------------------------------------------------- what leads set off


def test_progress_goes_to_stderr_and_the_summary_to_stdout(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "email\n" + "".join(f"user{n}@example.com\n" for n in range(5)))

    result = run(cli, path)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines() == [
        "imported 5 leads into workspace 'acme': 5 created, 0 duplicates, 0 invalid"
    ]
    assert "validating" in result.stderr
    assert "writing" in result.stderr
    assert "5/5" in result.stderr


def test_unknown_workspace_and_missing_file(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "email\nada@example.com\n")

    unknown = run(cli, path, workspace="nope")
    assert unknown.exit_code == 1
    assert "no workspace 'nope'" in unknown.stderr

    missing = run(cli, tmp_path / "nothing.csv")
    assert missing.exit_code != 0
    assert lead_count(settings) == 0


def test_no_webhooks_leaves_the_leads_unannounced(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    make_webhook_endpoint(settings, acme, ["lead.created"])
    path = write(tmp_path, "email\na@example.com\nb@example.com\n")
    assert summary(run(cli, path, "--no-webhooks")).endswith("2 created, 0 duplicates, 0 invalid")
    assert fetch_rows(settings, "SELECT id FROM webhook_events") == []
    assert fetch_rows(settings, "SELECT id FROM jobs WHERE kind = 'webhooks.deliver'") == []
    # Each lead still has its audit event, and the import says it sent none.
    created = fetch_rows(settings, "SELECT id FROM audit_events WHERE action = 'lead.created'")
    assert len(created) == 2
    (done,) = fetch_rows(
        settings, "SELECT changes FROM audit_events WHERE action = 'leads.imported'"
    )
    assert json.loads(done["changes"])["webhooks"] == {"before": None, "after": False}

    more = write(tmp_path, "email\nc@example.com\n", name="more.csv")
    assert summary(run(cli, more)).endswith("1 created, 0 duplicates, 0 invalid")
    assert len(fetch_rows(settings, "SELECT id FROM webhook_events")) == 1


def test_created_leads_have_history_webhooks_and_audit_events(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    make_webhook_endpoint(settings, acme, ["lead.created"])
    path = write(tmp_path, "email,status,created\na@example.com,won,2026-03-01\nb@example.com,,\n")

    assert summary(run(cli, path)).endswith("2 created, 0 duplicates, 0 invalid")
    assert summary(run(cli, path)).endswith("0 created, 2 duplicates, 0 invalid")

    bodies = [
        json.loads(row["body"])
        for row in fetch_rows(
            settings, "SELECT body FROM webhook_events WHERE type = 'lead.created'"
        )
    ]
    assert sorted(body["data"]["lead"]["email"] for body in bodies) == [
        "a@example.com",
        "b@example.com",
    ]
    assert {body["data"]["lead"]["source"] for body in bodies} == {"import"}
    # A delivery per lead, sent by the one delivery job the batch's transaction enqueued.
    assert len(fetch_rows(settings, "SELECT id FROM webhook_deliveries")) == 2
    assert len(fetch_rows(settings, "SELECT id FROM jobs WHERE kind = 'webhooks.deliver'")) == 1

    history = fetch_rows(
        settings, "SELECT from_status, to_status, api_key_id FROM lead_status_changes"
    )
    assert sorted((h["from_status"], h["to_status"], h["api_key_id"]) for h in history) == [
        (None, "open", None),
        (None, "won", None),
    ]
    actions = [
        (row["action"], row["actor_type"])
        for row in fetch_rows(
            settings, "SELECT action, actor_type FROM audit_events WHERE action LIKE 'lead%'"
        )
    ]
    assert sorted(actions) == [
        ("lead.created", "cli"),
        ("lead.created", "cli"),
        ("leads.imported", "cli"),
        ("leads.imported", "cli"),
    ]
    verified = cli.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output

    facets = {
        row["facet"]: row["count"]
        for row in fetch_rows(settings, "SELECT facet, count FROM lead_facets")
    }
    assert facets["source:import"] == 2
    assert facets["status:won"] == 1
    ws = fetch_rows(settings, "SELECT lead_count FROM workspaces WHERE slug = 'acme'")
    assert ws[0]["lead_count"] == 2


# -------------------------------------------------------------------------------- bounds


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 600 KB of workbook whose shared strings unpack to 600 MiB."""
    return zip_bomb(tmp_path_factory.mktemp("bomb") / "leads.xlsx")


def limit_imports(monkeypatch: pytest.MonkeyPatch, **settings: int) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(f"LEADLINE_IMPORT_{name.upper()}", str(value))
    get_settings.cache_clear()


def test_a_zip_bomb_is_refused_before_it_is_unpacked(
    cli: CliRunner, settings: Settings, acme: str, bomb: Path
) -> None:
    assert bomb.stat().st_size < MIB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        result = run(cli, bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before

    assert result.exit_code == 1
    assert lead_count(settings) == 0
    bound = Settings().import_max_data_bytes
    assert peak < bound, peak
    assert grown < bound, grown
    assert "refused (a spreadsheet compresses far less" in result.stderr


def test_a_workbook_whose_directory_lies_about_sizes_is_refused(
    cli: CliRunner, settings: Settings, acme: str, bomb: Path, tmp_path: Path
) -> None:
    # The directory says 2000 bytes where 600 MiB are: the ratio looks honest, the total small.
    path = tmp_path / "lying.xlsx"
    path.write_bytes(declare_size(bomb.read_bytes(), SHARED_STRINGS, 2000))
    tracemalloc.start()
    try:
        result = run(cli, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.exit_code == 1
    assert "damaged (Bad CRC-32 for file 'xl/sharedStrings.xml')" in result.stderr
    assert lead_count(settings) == 0
    assert peak < 16 * MIB, peak


def test_a_workbook_that_unpacks_past_the_data_limit_is_refused(
    cli: CliRunner,
    settings: Settings,
    acme: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    honest = zip_bomb(tmp_path / "honest.xlsx", 3000)  # a long note, nothing hostile
    assert run(cli, honest).exit_code == 0
    limit_imports(monkeypatch, max_data_bytes=2048)

    result = run(cli, honest)

    assert result.exit_code == 1
    assert "at most 2048 are read: split it into several files" in result.stderr
    assert lead_count(settings) == 1


def test_archives_that_are_not_readable_workbooks(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.xlsx"
    damaged.write_bytes(b"PK\x03\x04" + b"not a zip archive at all" * 10)
    crowded = tmp_path / "crowded.xlsx"
    with zipfile.ZipFile(crowded, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        for n in range(tables.MAX_ZIP_MEMBERS):
            archive.writestr(f"xl/media/{n}.txt", "")

    for path, expected in (
        (damaged, "the file looks like an Excel workbook but is damaged"),
        (crowded, f"at most {tables.MAX_ZIP_MEMBERS} members"),
    ):
        result = run(cli, path)
        assert result.exit_code == 1
        assert expected in result.stderr, result.stderr
    assert lead_count(settings) == 0


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_more_rows_than_the_row_limit_refuse_the_file(
    cli: CliRunner,
    settings: Settings,
    acme: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    rows = [["email"], *([f"u{n}@example.com"] for n in range(4))]
    path = tmp_path / f"leads.{kind}"
    if kind == "csv":
        path.write_text("".join(f"{row[0]}\n" for row in rows))
    else:
        path.write_bytes(workbook(rows))
    limit_imports(monkeypatch, max_rows=4)
    assert run(cli, path).exit_code == 0
    limit_imports(monkeypatch, max_rows=3)

    result = run(cli, path, "--skip-invalid")

    assert result.exit_code == 1
    assert "row 5: the file has more than 3 rows" in result.stderr
    assert lead_count(settings) == 4  # the first run's, none of the second's


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_cell_past_the_cell_limit_refuses_the_file(
    cli: CliRunner, settings: Settings, acme: str, tmp_path: Path, kind: str
) -> None:
    longest = "x" * tables.MAX_CELL_CHARS
    path = tmp_path / f"leads.{kind}"
    if kind == "csv":
        path.write_text(f"email,note\nada@example.com,{longest}x\nbob@example.com,{longest}\n")
    else:  # written by hand: openpyxl cuts a cell to Excel's 32,767 characters as it writes it
        zip_bomb(path, tables.MAX_CELL_CHARS + 1)

    result = run(cli, path, "--skip-invalid")

    assert result.exit_code == 1
    expected = f"row 2, column 'note': the cell holds {tables.MAX_CELL_CHARS + 1} characters"
    assert expected in result.stderr
    assert lead_count(settings) == 0


def test_csv_size_and_record_length_are_bounded_as_the_file_is_read(
    cli: CliRunner,
    settings: Settings,
    acme: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endless = tmp_path / "endless.csv"
    endless.write_bytes(b"email,note\nada@example.com," + b"x" * (tables.MAX_RECORD_BYTES + 1))
    # Cells with line breaks, each short, all in one record.
    folded = tmp_path / "folded.csv"
    folded.write_bytes(b"email,note\nada@example.com," + b'"a\nb",' * 200_000 + b"\n")
    for path in (endless, folded):
        result = run(cli, path)
        assert result.exit_code == 1
        assert "line 2: a record is over 1048576 bytes" in result.stderr, result.stderr

    many = write(tmp_path, "email\n" + "".join(f"user{n}@example.com\n" for n in range(200)))
    limit_imports(monkeypatch, max_data_bytes=2048)
    result = run(cli, many)
    assert result.exit_code == 1
    assert "the file is over 2048 bytes" in result.stderr
    assert lead_count(settings) == 0
