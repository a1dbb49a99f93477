"""``POST /api/leads/import``: a CSV file or an Excel workbook of leads, uploaded as the
``file`` field of a multipart form or sent as the body, imported by ``leadline.leads.imports``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from leadline.auth.roles import Permission
from leadline.auth.service import Principal
from leadline.errors import UnsupportedMediaType, ValidationFailed
from leadline.http import authenticated, database
from leadline.kit.filters import parse_bool
from leadline.kit.tables import XLSX_MEDIA_TYPE
from leadline.leads import imports
from leadline.surfaces.octanist import schemas as s
from leadline.surfaces.octanist.envelope import success
from leadline.surfaces.octanist.router import ERROR_RESPONSES, ApiKey, BearerKey, presented_key

router = APIRouter()

# The route's path within the surface; its body limit is its own (LEADLINE_IMPORT_MAX_BYTES).
IMPORT_PATH = "/leads/import"

# Bodies taken as the file itself. CSV arrives under many names (Windows labels it as Excel's);
# the content says what the file is, whatever it is labelled.
_FILE_TYPES = frozenset(
    {
        "text/csv",
        "application/csv",
        "text/tab-separated-values",
        "text/plain",
        "application/vnd.ms-excel",
        XLSX_MEDIA_TYPE,
        "application/octet-stream",
    }
)
_FORM_FIELDS = ("mapping", "status_mapping", "skip_invalid", "sheet", "webhooks")
# Spooled uploads stay in memory up to this size, then move to a temporary file.
_SPOOL_BYTES = 1 << 20

_MAPPING_HELP = (
    'A JSON object: column header -> field, e.g. {"E-mail address": "email", "Internal": "-"}'
    " ('-' leaves a column out). Also accepted as a form field."
)
_STATUS_HELP = (
    'A JSON object: value of the status column -> status, e.g. {"Converted Leads": "won"}.'
    " Also accepted as a form field."
)


async def committed_principal(request: Request, api_key: ApiKey, bearer: BearerKey) -> Principal:
    """The caller, checked outside any request transaction: an import commits its own
    batches, and an open request transaction (on SQLite a lock on the whole database) would
    make them wait for it."""
    return await authenticated(request, presented_key(api_key, bearer))


@dataclass
class _Upload:
    file: IO[bytes]
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    form: FormData | None = None

    async def close(self) -> None:
        if self.form is not None:
            await self.form.close()
        self.file.close()


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _read_upload(request: Request) -> _Upload:
    media_type = _media_type(request)
    if media_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=16, max_part_size=1 << 20)
        upload = form.get("file")
        unknown = sorted(set(form.keys()) - {"file", *_FORM_FIELDS})
        if not isinstance(upload, UploadFile) or unknown:
            await form.close()
            if not isinstance(upload, UploadFile):
                raise ValidationFailed(
                    "send the file as the multipart field 'file' (curl -F file=@leads.csv)",
                    details={"field": "file"},
                )
            raise ValidationFailed(
                f"unknown form field(s): {', '.join(unknown)}; the form takes file, "
                + ", ".join(_FORM_FIELDS),
                details={"fields": unknown},
            )
        fields = {name: value for name in _FORM_FIELDS if isinstance(value := form.get(name), str)}
        return _Upload(upload.file, upload.filename, fields, form)
    if media_type in _FILE_TYPES:
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 (_Upload closes it)
        try:
            async for chunk in request.stream():
                spool.write(chunk)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return _Upload(spool)
    raise UnsupportedMediaType(
        f"send the file as multipart/form-data (field 'file'), or as the body with "
        f"Content-Type text/csv or {XLSX_MEDIA_TYPE}; not '{media_type or 'none'}'",
        details={"contentType": media_type or None},
    )


def _json_object(raw: str | None, name: str) -> Mapping[str, Any]:
    if raw is None or not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not all(
        value is None or isinstance(value, str) for value in parsed.values()
    ):
        raise ValidationFailed(
            f'{name} must be a JSON object of strings, such as {{"Column": "field"}}',
            details={"field": name},
        )
    return parsed


def _flag(raw: str, name: str) -> bool:
    try:
        return parse_bool(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be true or false", details={"field": name}) from None


def render_import(result: imports.ImportResult) -> dict[str, Any]:
    return {
        "message": "Import finished",
        "format": result.format,
        "sheet": result.sheet,
        "rows": result.rows,
        "created": result.created,
        "duplicates": result.duplicates,
        "invalid": result.invalid,
        "columns": [{"column": use.column, "field": use.field} for use in result.columns],
        "customColumns": result.custom_columns,
        "rejectedRows": [error.as_dict() for error in result.rejected],
    }


_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "mapping": {"type": "string", "description": _MAPPING_HELP},
                    "status_mapping": {"type": "string", "description": _STATUS_HELP},
                    "skip_invalid": {"type": "boolean"},
                    "sheet": {"type": "string"},
                    "webhooks": {"type": "boolean"},
                },
            }
        },
        "text/csv": {"schema": {"type": "string"}},
        XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
    },
}


@router.post(
    IMPORT_PATH,
    response_model=s.ImportEnvelope,
    responses={
        **ERROR_RESPONSES,
        **{code: {"model": s.ErrorEnvelope} for code in (415, 422)},
    },
    tags=["leads"],
    openapi_extra={"requestBody": _REQUEST_BODY},
)
async def import_leads(
    request: Request,
    caller: Annotated[Principal, Depends(committed_principal)],
    mapping: Annotated[str | None, Query(description=_MAPPING_HELP)] = None,
    status_mapping: Annotated[str | None, Query(description=_STATUS_HELP)] = None,
    skip_invalid: Annotated[
        bool, Query(description="Import the valid rows and report the others.")
    ] = False,
    sheet: Annotated[
        str | None, Query(description="The workbook's sheet to read (default: the first).")
    ] = None,
    webhooks: Annotated[
        bool,
        Query(
            description="Send each created lead's lead.created webhook event (false for leads "
            "your other systems have already)."
        ),
    ] = True,
) -> Response:
    """Import leads from a CSV file or an Excel workbook (source ``import``). Every row is
    checked first: one invalid row refuses the file (422, nothing written) unless
    ``skip_invalid``. Rows imported before are counted as duplicates and not created again."""
    caller.require(Permission.LEADS_WRITE)
    upload = await _read_upload(request)
    try:
        given = upload.fields
        flag = given.get("skip_invalid")
        announce = given.get("webhooks")
        options = imports.ImportOptions(
            mapping=_json_object(given.get("mapping", mapping), "mapping"),
            status_mapping=_json_object(
                given.get("status_mapping", status_mapping), "status_mapping"
            ),
            skip_invalid=skip_invalid if flag is None else _flag(flag, "skip_invalid"),
            sheet=given.get("sheet", sheet) or None,
            webhooks=webhooks if announce is None else _flag(announce, "webhooks"),
        )
        result = await imports.import_leads(
            database(request), caller, upload.file, filename=upload.filename, options=options
        )
    finally:
        await upload.close()
    return success(request, render_import(result))
