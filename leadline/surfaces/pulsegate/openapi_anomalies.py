"""The OpenAPI paths and schemas of the anomalies analytics routes (see openapi.py)."""

from __future__ import annotations

from typing import Any

from leadline.analytics.anomalies import KINDS, SEVERITIES

Schema = dict[str, Any]

_NUMBER: Schema = {"type": "number"}
_TIMESTAMP: Schema = {"type": "string", "description": "ISO 8601, UTC, milliseconds."}


def _parameter(name: str, description: str, schema: Schema) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _parameters() -> list[Schema]:
    from leadline.kit.reporting import DAY_SCHEMA

    # Empty is as absent.
    day = {"type": "string", "anyOf": [DAY_SCHEMA, {"maxLength": 0}]}
    return [
        _parameter(
            "site",
            "A site's id or key; every site of the workspace without it.",
            {"type": "string"},
        ),
        _parameter(
            "from",
            "The first day (included) of the anomalies seen; 30 days up to `to` by default.",
            day,
        ),
        _parameter("to", "The last day (included); today by default.", day),
        _parameter("tz", "The IANA zone the days are in; UTC by default.", {"type": "string"}),
        _parameter(
            "status",
            "Only open or only resolved anomalies; both when absent or empty.",
            {"type": "string", "enum": ["open", "resolved", ""]},
        ),
    ]


def paths() -> dict[str, Schema]:
    from leadline.surfaces.pulsegate.openapi import _errors, _json, _preflight, _ref

    return {
        "/analytics/anomalies": {
            "get": {
                "summary": "Anomalies of traffic, submissions and tracking",
                "description": (
                    "The anomalies the hourly check found on the workspace's sites (or the one "
                    "named): every open one, and those seen in the period. Open ones first, "
                    "then the latest seen; at most 500. Page `anomalies`."
                ),
                "tags": ["Analytics"],
                "parameters": _parameters(),
                "responses": {
                    "200": _json(_ref("AnomalyList"), "The anomalies."),
                    **_errors(400, 401, 403, 404),
                },
            },
            "options": _preflight("Preflight of /analytics/anomalies"),
        }
    }


def components() -> dict[str, Schema]:
    anomaly: Schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string"},
            "site_id": {"type": "string"},
            "kind": {
                "type": "string",
                "enum": list(KINDS),
                "description": "; ".join(f"`{k}`: {v}" for k, v in KINDS.items()),
            },
            "status": {"type": "string", "enum": ["open", "resolved", ""]},
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "first_seen": {**_TIMESTAMP, "description": "The start of the first hour it was seen."},
            "last_seen": {**_TIMESTAMP, "description": "The start of the last hour it was seen."},
            "window": {
                "type": "object",
                "additionalProperties": False,
                "description": "The hours the latest observation covers.",
                "properties": {
                    "start": _TIMESTAMP,
                    "end": _TIMESTAMP,
                    "hours": {"type": "integer"},
                },
                "required": ["start", "end", "hours"],
            },
            "observed": {
                **_NUMBER,
                "description": "What the window had: a count, or a share from 0 to 1 "
                "(`vpn_share`).",
            },
            "expected": {
                "type": "object",
                "additionalProperties": False,
                "description": "The range that would not have been an anomaly.",
                "properties": {"low": _NUMBER, "high": _NUMBER},
                "required": ["low", "high"],
            },
            "score": {**_NUMBER, "description": "How far from usual, in robust standard scores."},
            "sentence": {"type": "string", "description": "What happened, for people."},
            "resolved_at": {"type": ["string", "null"], "description": _TIMESTAMP["description"]},
        },
    }
    anomaly["required"] = list(anomaly["properties"])
    return {
        "Anomaly": anomaly,
        "AnomalyList": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "open": {"type": "integer", "description": "How many of those listed are open."},
                "anomalies": {"type": "array", "items": {"$ref": "#/components/schemas/Anomaly"}},
            },
            "required": ["open", "anomalies"],
        },
    }
