"""POST /api/leads/import: uploads and raw bodies, the envelope, auth, limits, content types."""

from __future__ import annotations

import io
import json
import resource
import tracemalloc
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import openpyxl
import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from leadline.kit.tables import MAX_CELL_CHARS, XLSX_MEDIA_TYPE
from leadline.surfaces.octanist.schemas import ImportEnvelope
from tests.fixtures.factories import fetch_rows, make_key, make_webhook_endpoint
from tests.fixtures.octanist import error_of
from tests.fixtures.workbooks import MIB, SHARED_STRINGS, declare_size, zip_bomb

CSV = (
    "E-mail;Full name;Created;Status;Company\n"
    "ada@example.com;Ada Lovelace;2026-03-10;Converted Leads;Analytical\n"
    "bob@example.com;Bob;03/11/2026;open;\n"
)


def lead_count(settings: Settings) -> int:
    return int(fetch_rows(settings, "SELECT COUNT(*) AS n FROM leads")[0]["n"])


def upload(api: TestClient, content: bytes | str, name: str = "leads.csv", **fields: str) -> Any:
    data = content.encode() if isinstance(content, str) else content
    return api.post("/api/leads/import", files={"file": (name, data, "text/csv")}, data=fields)


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    ImportEnvelope.model_validate(body)
    data: dict[str, Any] = body["data"]
    return data


def imported(api: TestClient) -> list[dict[str, Any]]:
    response = api.get("/api/leads", params={"source": "import", "sort": "email:asc"})
    assert response.status_code == 200, response.text
    leads: list[dict[str, Any]] = response.json()["data"]
    return leads


def xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- imports


def test_multipart_upload_with_mappings_as_form_fields(api: TestClient) -> None:
    data = ok(upload(api, CSV, status_mapping=json.dumps({"converted leads": "won"})))

    assert data == {
        "message": "Import finished",
        "format": "csv",
        "sheet": None,
        "rows": 2,
        "created": 2,
        "duplicates": 0,
        "invalid": 0,
        "columns": [
            {"column": "E-mail", "field": "email"},
            {"column": "Full name", "field": "name"},
            {"column": "Created", "field": "createdAt"},
            {"column": "Status", "field": "status"},
            {"column": "Company", "field": "custom"},
        ],
        "customColumns": ["Company"],
        "rejectedRows": [],
    }
    ada, bob = imported(api)
    assert (ada["name"], ada["status"], ada["source"]) == ("Ada Lovelace", "won", "import")
    assert ada["createdAt"] == "2026-03-10T00:00:00.000Z"
    assert ada["qualifiedAt"] == "2026-03-10T00:00:00.000Z"
    assert json.loads(ada["custom"]) == {"Company": "Analytical"}
    assert (bob["status"], bob["createdAt"], bob["custom"]) == (
        "open",
        "2026-03-11T00:00:00.000Z",
        None,
    )


def test_raw_csv_body_with_mappings_in_the_query(api: TestClient) -> None:
    body = "Work mail,Stage\nada@example.com,Converted Leads\n"
    response = api.post(
        "/api/leads/import",
        content=body.encode(),
        headers={"content-type": "text/csv; charset=utf-8"},
        params={
            "mapping": json.dumps({"Work mail": "email", "Stage": "status"}),
            "status_mapping": json.dumps({"Converted Leads": "won"}),
        },
    )

    assert ok(response)["created"] == 1
    (ada,) = imported(api)
    assert (ada["email"], ada["status"]) == ("ada@example.com", "won")


def test_raw_xlsx_body(api: TestClient) -> None:
    content = xlsx(
        [["Email", "Created", "Value"], ["ada@example.com", datetime(2026, 3, 10, 8), 99]]
    )

    response = api.post(
        "/api/leads/import", content=content, headers={"content-type": XLSX_MEDIA_TYPE}
    )

    data = ok(response)
    assert (data["format"], data["sheet"], data["created"]) == ("xlsx", "Sheet", 1)
    (ada,) = imported(api)
    assert (ada["createdAt"], ada["value"]) == ("2026-03-10T08:00:00.000Z", 99)


def test_xlsx_uploaded_under_a_csv_name_is_read_as_a_workbook(api: TestClient) -> None:
    content = xlsx([["email"], ["ada@example.com"]])

    data = ok(upload(api, content, name="leads.csv"))

    assert (data["format"], data["created"]) == ("xlsx", 1)


def test_a_repeated_import_creates_nothing(api: TestClient, settings: Settings) -> None:
    first = ok(upload(api, CSV, status_mapping='{"Converted Leads": "won"}'))
    again = ok(upload(api, CSV, status_mapping='{"Converted Leads": "won"}'))

    assert (first["created"], first["duplicates"]) == (2, 0)
    assert (again["rows"], again["created"], again["duplicates"]) == (2, 0, 2)
    assert lead_count(settings) == 2


@pytest.mark.parametrize("where", ["form", "query"])
def test_webhooks_can_be_left_out(
    api: TestClient, settings: Settings, admin_key: str, where: str
) -> None:
    make_webhook_endpoint(settings, admin_key, ["lead.created"])
    people = "email\nada@example.com\nbob@example.com\n"
    if where == "form":
        answer = upload(api, people, webhooks="false")
    else:
        answer = api.post(
            "/api/leads/import?webhooks=false", content=people, headers={"Content-Type": "text/csv"}
        )
    assert ok(answer)["created"] == 2
    assert fetch_rows(settings, "SELECT id FROM webhook_events") == []
    error_of(upload(api, people, webhooks="maybe"), 400, "VALIDATION_ERROR")
    announced = upload(api, people.replace("ada@", "eve@"))
    assert ok(announced)["created"] == 1
    assert len(fetch_rows(settings, "SELECT id FROM webhook_events")) == 1


def test_an_invalid_row_refuses_the_file(api: TestClient, settings: Settings) -> None:
    body = "email,created\nada@example.com,2026-03-10\nbob@example.com,10.03.2026\n"

    response = upload(api, body)

    error = error_of(response, 422, "INVALID_ROWS")
    assert error["message"].startswith("nothing was imported: 1 of 2 rows are invalid")
    assert error["details"] == {
        "rows": 2,
        "invalid": 1,
        "rejectedRows": [
            {
                "row": 3,
                "column": "created",
                "field": "createdAt",
                "value": "10.03.2026",
                "message": "'10.03.2026' is not a date; write dates as YYYY-MM-DD, MM/DD/YYYY "
                "or ISO-8601 (2026-03-10T14:30:00Z)",
            }
        ],
    }
    assert lead_count(settings) == 0


@pytest.mark.parametrize("where", ["form", "query"])
def test_skip_invalid(api: TestClient, settings: Settings, where: str) -> None:
    body = "email,created\nada@example.com,2026-03-10\nnot-an-email,\n"
    if where == "form":
        response = upload(api, body, skip_invalid="true")
    else:
        response = api.post(
            "/api/leads/import",
            params={"skip_invalid": "true"},
            files={"file": ("leads.csv", body.encode(), "text/csv")},
        )

    data = ok(response)
    assert (data["rows"], data["created"], data["invalid"]) == (2, 1, 1)
    (rejected,) = data["rejectedRows"]
    assert (rejected["row"], rejected["column"], rejected["field"]) == (3, "email", "email")
    assert rejected["value"] == "not-an-email"
    assert lead_count(settings) == 1


@pytest.mark.parametrize(
    ("fields", "params", "expected"),
    [
        ({"mapping": "not json"}, {}, "mapping must be a JSON object of strings"),
        ({"mapping": '["email"]'}, {}, "mapping must be a JSON object of strings"),
        ({}, {"status_mapping": '{"x": 1}'}, "status_mapping must be a JSON object of strings"),
        ({"mapping": '{"Nope": "email"}'}, {}, "the mapping names column 'Nope'"),
        ({"skip_invalid": "perhaps"}, {}, "skip_invalid must be true or false"),
        ({"sheet": "Leads"}, {}, "the file is CSV text, which has no sheets"),
        ({"skipInvalid": "true"}, {}, "unknown form field(s): skipInvalid"),
    ],
)
def test_bad_options_are_400(
    api: TestClient,
    settings: Settings,
    fields: dict[str, str],
    params: dict[str, str],
    expected: str,
) -> None:
    response = api.post(
        "/api/leads/import",
        params=params,
        files={"file": ("leads.csv", b"email\nada@example.com\n", "text/csv")},
        data=fields,
    )

    assert expected in error_of(response, 400, "VALIDATION_ERROR")["message"]
    assert lead_count(settings) == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (b"email\n", "the file has a header but no rows"),
        (b"email\nAd\xe9le@example.com\n", "line 2 is not UTF-8 text"),
    ],
)
def test_files_that_cannot_be_read_are_400(api: TestClient, content: bytes, expected: str) -> None:
    assert expected in error_of(upload(api, content), 400, "VALIDATION_ERROR")["message"]


def test_a_multipart_form_without_the_file_is_400(api: TestClient) -> None:
    response = api.post("/api/leads/import", data={"mapping": "{}"}, files={"other": ("a", b"x")})

    assert "multipart field 'file'" in error_of(response, 400, "VALIDATION_ERROR")["message"]


# -------------------------------------------------------------------- auth and routing


def test_no_key_is_401_and_a_key_without_write_permission_is_403(
    client: TestClient, settings: Settings
) -> None:
    files = {"file": ("leads.csv", b"email\nada@example.com\n", "text/csv")}
    assert error_of(client.post("/api/leads/import", files=files), 401, "UNAUTHORIZED")
    bad = client.post("/api/leads/import", files=files, headers={"X-API-KEY": "ll_nope"})
    error_of(bad, 401, "UNAUTHORIZED")

    marketing = make_key(settings, "acme", "marketing")
    response = client.post("/api/leads/import", files=files, headers={"X-API-KEY": marketing})
    error = error_of(response, 403, "FORBIDDEN")
    assert error["details"]["permission"] == "leads:write"
    assert lead_count(settings) == 0

    integration = make_key(settings, "acme", "integration")
    allowed = client.post(
        "/api/leads/import", files=files, headers={"Authorization": f"Bearer {integration}"}
    )
    assert ok(allowed)["created"] == 1


def test_the_route_is_not_taken_for_a_lead_id(client: TestClient, api: TestClient) -> None:
    # POST reaches the importer (which wants a file), not the lead routes (405 or 404).
    response = api.post(
        "/api/leads/import", content=b"{}", headers={"content-type": "application/json"}
    )
    error_of(response, 415, "VALIDATION_ERROR")
    # Nor does any other method: /leads/import is a path of its own (OpenAPI matches it before
    # /leads/{lead_id}), which takes POST alone.
    for method in ("GET", "PATCH"):
        refused = api.request(method, "/api/leads/import")
        error_of(refused, 405, "VALIDATION_ERROR")
        assert refused.headers["Allow"] == "POST"
    error_of(api.get("/api/leads/imported"), 404, "NOT_FOUND")


def test_each_key_imports_into_its_own_workspace(client: TestClient, settings: Settings) -> None:
    files = {"file": ("leads.csv", b"email\nada@example.com\n", "text/csv")}
    acme = make_key(settings, "acme", "admin")
    globex = make_key(settings, "globex", "admin")

    assert (
        ok(client.post("/api/leads/import", files=files, headers={"X-API-KEY": acme}))["created"]
        == 1
    )
    assert (
        ok(client.post("/api/leads/import", files=files, headers={"X-API-KEY": globex}))["created"]
        == 1
    )
    listed = client.get("/api/leads", headers={"X-API-KEY": globex}).json()["data"]
    assert len(listed) == 1
    assert lead_count(settings) == 2


# ------------------------------------------------------------------- limits and types


@pytest.fixture
def small_limits(settings: Settings) -> Iterator[TestClient]:
    """An app whose JSON bodies stop at 1 KB and whose imports stop at 4 KB."""
    limited = Settings(
        database_url=settings.database_url, max_body_bytes=1024, import_max_bytes=4096
    )
    key = make_key(settings, "acme", "admin")
    with TestClient(create_app(limited), headers={"X-API-KEY": key}) as test_client:
        yield test_client


def test_an_upload_over_the_import_limit_is_413(
    small_limits: TestClient, settings: Settings
) -> None:
    big = "email\n" + "".join(f"user{n}@example.com\n" for n in range(400))  # about 8 KB
    assert len(big) > 4096

    declared = small_limits.post(
        "/api/leads/import", content=big.encode(), headers={"content-type": "text/csv"}
    )
    error = error_of(declared, 413, "VALIDATION_ERROR")
    assert error["details"] == {"maxBytes": 4096}

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it is read
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000].encode()

    streamed = small_limits.post(
        "/api/leads/import", content=chunks(), headers={"content-type": "text/csv"}
    )
    error_of(streamed, 413, "VALIDATION_ERROR")

    multipart = small_limits.post(
        "/api/leads/import", files={"file": ("leads.csv", big.encode(), "text/csv")}
    )
    error_of(multipart, 413, "VALIDATION_ERROR")
    assert lead_count(settings) == 0


def test_imports_take_more_than_the_json_body_limit(
    small_limits: TestClient, settings: Settings
) -> None:
    body = "email\n" + "".join(f"u{n}@example.com\n" for n in range(150))  # about 2.5 KB
    assert 1024 < len(body) < 4096

    response = small_limits.post(
        "/api/leads/import", content=body.encode(), headers={"content-type": "text/csv"}
    )

    assert ok(response)["created"] == 150
    # Every other route keeps the general limit.
    lead = small_limits.post("/api/leads", json={"name": "A", "note": "x" * 2000})
    error_of(lead, 413, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/x-www-form-urlencoded", "image/png", None]
)
def test_other_content_types_are_415(
    api: TestClient, settings: Settings, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}

    response = api.post("/api/leads/import", content=b"email\nada@example.com\n", headers=headers)

    error = error_of(response, 415, "VALIDATION_ERROR")
    assert "multipart/form-data" in error["message"]
    assert lead_count(settings) == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "Excel 97-2003 workbook (.xls)"),
        (b"%PDF-1.7\n...", "a PDF document"),
        (b"email\x00\x01\x02", "neither CSV text nor an Excel workbook"),
    ],
)
def test_files_of_other_kinds_are_415(api: TestClient, content: bytes, expected: str) -> None:
    response = api.post(
        "/api/leads/import", content=content, headers={"content-type": "application/octet-stream"}
    )

    assert expected in error_of(response, 415, "VALIDATION_ERROR")["message"]


def test_the_openapi_document_describes_the_route(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    operation = document["paths"]["/leads/import"]["post"]

    content = operation["requestBody"]["content"]
    assert {"multipart/form-data", "text/csv", XLSX_MEDIA_TYPE} <= set(content)
    assert content["multipart/form-data"]["schema"]["required"] == ["file"]
    assert {"200", "400", "401", "403", "413", "415", "422"} <= set(operation["responses"])


# ------------------------------------------------------------------------- file bounds


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """About 600 KB of workbook whose shared strings unpack to 600 MiB."""
    return zip_bomb(tmp_path_factory.mktemp("bomb") / "leads.xlsx").read_bytes()


def post_workbook(api: TestClient, content: bytes) -> Any:
    return api.post("/api/leads/import", content=content, headers={"content-type": XLSX_MEDIA_TYPE})


def test_a_zip_bomb_is_413_and_the_server_does_not_unpack_it(
    api: TestClient, settings: Settings, bomb: bytes
) -> None:
    assert len(bomb) < MIB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        as_body = post_workbook(api, bomb)
        as_form = api.post(
            "/api/leads/import", files={"file": ("leads.xlsx", bomb, XLSX_MEDIA_TYPE)}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before

    assert lead_count(settings) == 0
    bound = settings.import_max_data_bytes
    assert peak < bound, peak
    assert grown < bound, grown
    for response in (as_body, as_form):
        error = error_of(response, 413, "VALIDATION_ERROR")
        assert "'xl/sharedStrings.xml' unpacks from" in error["message"]


def test_workbooks_that_lie_or_are_no_zip_are_400(
    api: TestClient, settings: Settings, bomb: bytes
) -> None:
    lying = post_workbook(api, declare_size(bomb, SHARED_STRINGS, 2000))
    assert "Bad CRC-32" in error_of(lying, 400, "VALIDATION_ERROR")["message"]

    not_zip = post_workbook(api, b"PK\x03\x04" + b"\x00" * 300)
    assert "is damaged" in error_of(not_zip, 400, "VALIDATION_ERROR")["message"]
    assert lead_count(settings) == 0


@pytest.fixture
def few_rows(settings: Settings) -> Iterator[TestClient]:
    """An app whose imports take 2 rows at most."""
    limited = Settings(database_url=settings.database_url, import_max_rows=2)
    key = make_key(settings, "acme", "admin")
    with TestClient(create_app(limited), headers={"X-API-KEY": key}) as test_client:
        yield test_client


def test_rows_past_the_row_limit_and_overlong_cells_are_413(
    few_rows: TestClient, settings: Settings
) -> None:
    three = "email\na@example.com\nb@example.com\nc@example.com\n"
    too_many = upload(few_rows, three, skip_invalid="true")
    error = error_of(too_many, 413, "VALIDATION_ERROR")
    assert error["message"].startswith("row 4: the file has more than 2 rows")

    long_cell = "email,note\na@example.com," + "x" * (MAX_CELL_CHARS + 1) + "\n"
    error = error_of(upload(few_rows, long_cell), 413, "VALIDATION_ERROR")
    assert error["message"].startswith(f"row 2, column 'note': the cell holds {MAX_CELL_CHARS + 1}")
    assert error["details"]["limit"] == MAX_CELL_CHARS
    workbook = xlsx([["email"], ["a@example.com"], ["b@example.com"], ["c@example.com"]])
    error_of(post_workbook(few_rows, workbook), 413, "VALIDATION_ERROR")
    assert lead_count(settings) == 0
