"""The OpenAPI paths and schemas of the access analytics routes (see openapi.py): marketing
keys (``/analytics/marketing-keys``) and the export (``/analytics/export``)."""

from __future__ import annotations

from typing import Any

from leadline.analytics.export import FIELDS, FORMATS, KINDS, MEDIA_TYPES
from leadline.auth.pages import PAGES

Schema = dict[str, Any]

_KEY_ID: Schema = {
    "name": "key_id",
    "in": "path",
    "required": True,
    "description": "The marketing key's id.",
    "schema": {"type": "string"},
}
_PAGE_LIST: Schema = {
    "description": "Pages the key opens: a list, or one comma-separated string of them.",
    "anyOf": [
        {"type": "array", "items": {"type": "string", "enum": list(PAGES)}, "maxItems": 64},
        {"type": "string", "maxLength": 1000},
    ],
}


def paths() -> dict[str, Schema]:
    from leadline.surfaces.pulsegate.openapi import (
        _NOT_ALLOWED,
        _manage,
        _object,
        _ref,
        _wrapped,
    )

    key = _ref("MarketingKey")
    shown = _object({"marketing_key": key, "api_key": {"type": "string"}})
    for_key = [_KEY_ID]

    def manage(summary: str, status: int, answer: Schema, *errors: int, **more: Any) -> Schema:
        operation = _manage(summary, status, answer, *errors, **more)
        operation["tags"] = ["Marketing keys"]
        responses = operation["responses"]
        responses["403"]["description"] = "Not an admin key (a marketing key too)."
        if "404" in responses:
            responses["404"]["description"] = "No such marketing key in the workspace."
        if "409" in responses:
            responses["409"]["description"] = "The key is revoked, or the workspace closed."
        return operation

    return {
        "/analytics/marketing-keys": {
            "description": _NOT_ALLOWED,
            "get": manage(
                "The workspace's marketing keys",
                200,
                _wrapped("marketing_keys", {"type": "array", "items": key}),
            ),
            "post": manage(
                "Make a marketing key (shown once)",
                201,
                shown,
                409,
                body=_ref("MarketingKeyCreate"),
                body_required=False,
            ),
        },
        "/analytics/marketing-keys/{key_id}": {
            "description": _NOT_ALLOWED,
            "parameters": for_key,
            "get": manage("A marketing key", 200, _wrapped("marketing_key", key), 404),
            "patch": manage(
                "Rename a marketing key or set its pages (effective at once)",
                200,
                _wrapped("marketing_key", key),
                404,
                409,
                body=_ref("MarketingKeyPatch"),
            ),
            "delete": manage(
                "Revoke a marketing key",
                200,
                _object(
                    {"deleted": {"const": True}, "id": {"type": "string"}, "marketing_key": key}
                ),
                404,
                409,
            ),
        },
        "/analytics/marketing-keys/{key_id}/regenerate": {
            "description": _NOT_ALLOWED,
            "parameters": for_key,
            "post": manage(
                "A new secret for a marketing key (shown once; the old one stops at once)",
                200,
                shown,
                404,
                409,
            ),
        },
        "/analytics/export": {"description": _NOT_ALLOWED, "get": _export()},
    }


def _export() -> Schema:
    from leadline.surfaces.pulsegate.openapi import _errors

    def query(name: str, description: str, schema: Schema) -> Schema:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": schema,
        }

    columns = "; ".join(f"{kind}: {', '.join(FIELDS[kind])}" for kind in KINDS)
    return {
        "summary": "Export raw events, visits or leads of a period (admins only), streamed",
        "description": (
            "Every row of the kind in the period (and site), with personal data: CSV with a"
            f" header row, or one JSON object per line. Columns: {columns}."
        ),
        "tags": ["Export"],
        "parameters": [
            {"name": "kind", "in": "query", "required": True, "schema": {"enum": list(KINDS)}},
            query("format", "csv by default.", {"enum": list(FORMATS)}),
            query(
                "site",
                "A site's id or key; every site of the workspace without it.",
                {"type": "string"},
            ),
            query("from", "First day (YYYY-MM-DD), included.", {"type": "string"}),
            query("to", "Last day (YYYY-MM-DD), included.", {"type": "string"}),
            query("tz", "IANA zone of the days; UTC by default.", {"type": "string"}),
        ],
        "responses": {
            "200": {
                "description": "The rows, streamed, as an attachment.",
                "headers": {
                    "Content-Disposition": {
                        "description": 'attachment; filename="<kind>-<from>-<to>.<format>"',
                        "schema": {"type": "string"},
                    }
                },
                "content": {
                    MEDIA_TYPES["csv"].split(";")[0]: {"schema": {"type": "string"}},
                    MEDIA_TYPES["ndjson"]: {"schema": {"type": "string"}},
                },
            },
            **_errors(
                400,
                401,
                403,
                404,
                e400="A bad kind, format, date or zone; the message names it.",
                e403="Not an admin key (a marketing key too).",
                e404="No such site in the workspace.",
            ),
        },
        "security": [{"BearerAuth": []}, {"ApiKey": []}],
    }


def components() -> dict[str, Schema]:
    timestamp: Schema = {"type": "string", "description": "ISO 8601, UTC, milliseconds."}
    maybe: Schema = {"type": ["string", "null"], "description": timestamp["description"]}
    pages: Schema = {"type": "array", "items": {"type": "string", "enum": list(PAGES)}}
    name: Schema = {"type": "string", "maxLength": 200}
    return {
        "MarketingKey": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "pages": {**pages, "description": "The pages the key opens."},
                "default_pages": {
                    "type": "boolean",
                    "description": "The key has no list of its own: it opens the default pages.",
                },
                "api_key": {
                    "type": "string",
                    "description": "The key's first characters; the whole key only when made"
                    " or regenerated.",
                },
                "created_at": timestamp,
                "last_used_at": maybe,
                "revoked_at": maybe,
                "active": {"type": "boolean"},
            },
            "required": [
                "id",
                "name",
                "pages",
                "default_pages",
                "api_key",
                "created_at",
                "last_used_at",
                "revoked_at",
                "active",
            ],
            "additionalProperties": False,
        },
        "MarketingKeyCreate": {
            "type": "object",
            "properties": {
                "name": {"anyOf": [name, {"type": "null"}]},
                "pages": {
                    "anyOf": [_PAGE_LIST, {"type": "null"}],
                    "description": "Without it (or null): the default pages.",
                },
            },
            "additionalProperties": False,
        },
        "MarketingKeyPatch": {
            "type": "object",
            "properties": {
                "name": name,
                "pages": {
                    "anyOf": [_PAGE_LIST, {"type": "null"}],
                    "description": "null: back to the default pages.",
                },
            },
            "additionalProperties": False,
        },
    }
