"""The OpenAPI paths and schemas of the lead reports: the lead list and a lead's timeline, the
filter options, and the engine's submission aggregates (see openapi.py)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_REF = "#/components/schemas/{name}"
_PAGES = (
    "An admin key opens it; a marketing key opens it when its pages include `{page}`;"
    " email and phone are masked wherever a marketing key reads them."
)
_ADMIN = "Admins only: a marketing key is refused (403)."


def _ref(name: str) -> Schema:
    return {"$ref": _REF.format(name=name)}


def _query(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_QUESTION = [
    _query("site", "A site's id or key; without it, every site of the key's workspace."),
    _query("from", "The first day (YYYY-MM-DD); 30 days before `to` by default."),
    _query("to", "The last day (YYYY-MM-DD), included; today by default."),
    _query("tz", "An IANA zone (Europe/Amsterdam): days are its days. UTC by default."),
]
_FILTERS = [
    _query("project", "Only this project (the PROJECT field); `(none)`: those without one."),
    _query("source", "Only this source; `(none)`: those nothing said the source of."),
    _query(
        "engagement",
        "Only this engagement label: Cold, Warm, Hot, Very Hot, or none (no tracked visit).",
    ),
    _query(
        "suspicion",
        "`suspicious`: only suspicion scores of 40 or more; `clean`: only those below.",
    ),
]
_LISTING = [
    _query("limit", "Leads per page, a whole number from 1 to 100 (25 by default)."),
    _query("cursor", "The `next_cursor` of the page before, as it was given."),
    _query("search", "Only leads whose name, email or phone contains this (any case)."),
]


def _operation(summary: str, description: str, answer: str, parameters: list[Schema]) -> Schema:
    from leadline.surfaces.pulsegate import openapi

    return {
        "summary": summary,
        "description": description,
        "tags": ["Lead reports"],
        "parameters": parameters,
        "responses": {
            "200": openapi._json(_ref(answer), "The report."),
            **openapi._errors(400, 401, 403, 404),
        },
    }


def _path(operation: Schema, summary: str) -> Schema:
    from leadline.surfaces.pulsegate import openapi

    return {
        "description": openapi._NOT_ALLOWED,
        "get": operation,
        "options": openapi._preflight(summary),
    }


def paths() -> dict[str, Schema]:
    engine = _PAGES.format(page="engine")
    options = _PAGES.format(page="options")
    aggregate = [*_QUESTION, *_FILTERS]
    found = {
        "/analytics/leads": _operation(
            "The lead list",
            "The leads that sent a submission in the period (meeting the filters), the latest"
            " first, each with its latest such submission; pages follow `next_cursor`. " + _ADMIN,
            "LeadList",
            [*_QUESTION, *_FILTERS, *_LISTING],
        ),
        "/analytics/leads/projects": _operation(
            "Projects, for the filters",
            "The projects of the period's submissions (null: none). " + options,
            "ProjectOptions",
            _QUESTION,
        ),
        "/analytics/leads/sources": _operation(
            "Sources, for the filters",
            "The sources of the period's submissions (null: none). " + options,
            "SourceOptions",
            _QUESTION,
        ),
        "/analytics/leads/{lead_id}": _operation(
            "A lead and its timeline",
            "The lead, and its visits, their events, its submissions, status changes and"
            " conversations as one list, newest first. " + _ADMIN,
            "LeadDetail",
            [
                {
                    "name": "lead_id",
                    "in": "path",
                    "required": True,
                    "description": "The lead's id.",
                    "schema": {"type": "string"},
                },
                *_QUESTION,
            ],
        ),
        "/analytics/engine/submissions-daily": _operation(
            "Submissions per day",
            "Submissions, new leads and suspicious submissions on each day of the period,"
            " beside the same day of the previous period. " + engine,
            "EngineDaily",
            aggregate,
        ),
        "/analytics/engine/by-project": _operation(
            "Submissions per project",
            "The most first (at most 200). " + engine,
            "EngineByProject",
            aggregate,
        ),
        "/analytics/engine/by-source": _operation(
            "Submissions per source",
            "The most first (at most 200). " + engine,
            "EngineBySource",
            aggregate,
        ),
        "/analytics/engine/by-engagement": _operation(
            "Submissions per engagement label",
            "Very Hot, Hot, Warm, Cold, then null (no tracked visit). " + engine,
            "EngineByEngagement",
            aggregate,
        ),
        "/analytics/engine/overview": _operation(
            "Submission totals and averages",
            "Each beside the previous period's. " + engine,
            "EngineOverview",
            aggregate,
        ),
        "/analytics/engine/projects": _operation(
            "Projects of the period's submissions", engine, "ProjectOptions", _QUESTION
        ),
        "/analytics/engine/sources": _operation(
            "Sources of the period's submissions", engine, "SourceOptions", _QUESTION
        ),
    }
    return {path: _path(operation, operation["summary"]) for path, operation in found.items()}


def _object(properties: dict[str, Schema]) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


_TEXT: Schema = {"type": "string"}
_MAYBE_TEXT: Schema = {"type": ["string", "null"]}
_COUNT: Schema = {"type": "integer", "minimum": 0}
_TIME: Schema = {"type": "string", "description": "ISO 8601, UTC, milliseconds."}
_MAYBE_TIME: Schema = {"type": ["string", "null"], "description": _TIME["description"]}


def _counted(name: str, value: Schema) -> Schema:
    row = {
        name: value,
        "submissions": _ref("Compared"),
        "leads": _ref("Compared"),
        "suspicious": _ref("Compared"),
        "share": {"type": "number", "description": "Per cent of the period's submissions."},
    }
    return _object(
        {
            "period": _ref("ReportPeriod"),
            "previous_period": _ref("ReportPeriod"),
            "rows": {"type": "array", "items": _object(row)},
            "truncated": {"type": "boolean"},
            "total": _ref("Compared"),
        }
    )


def _entry() -> Schema:
    return {
        "type": "object",
        "description": (
            "One thing that happened: `type` says what, `at` when; the other fields are its"
            " details (a visit's attribution and engagement, an event's type, url and data, a"
            " submission's project, source, outcome, scores and fields, a status change's from"
            " and to, a conversation's status, a message's author and text)."
        ),
        "properties": {
            "type": {
                "type": "string",
                "enum": [
                    "visit",
                    "event",
                    "submission",
                    "status_change",
                    "conversation",
                    "message",
                ],
            },
            "at": _TIME,
        },
        "required": ["type", "at"],
        "additionalProperties": True,
    }


def components() -> dict[str, Schema]:
    period = _object({"from": _TEXT, "to": _TEXT, "tz": _TEXT})
    periods = {"period": _ref("ReportPeriod"), "previous_period": _ref("ReportPeriod")}
    compared = _object(
        {"value": {"type": ["number", "null"]}, "previous": {"type": ["number", "null"]}}
    )
    scored = _object({"score": {"type": ["integer", "null"]}, "label": _MAYBE_TEXT})
    suspicion = _object(
        {
            "score": _COUNT,
            "suspicious": {"type": "boolean"},
            "reasons": {"type": "array", "items": _TEXT},
        }
    )
    item = _object(
        {
            "id": _TEXT,
            "name": _MAYBE_TEXT,
            "email": _MAYBE_TEXT,
            "phone": _MAYBE_TEXT,
            "status": _MAYBE_TEXT,
            "created_at": _MAYBE_TIME,
            "project": _MAYBE_TEXT,
            "source": _MAYBE_TEXT,
            "site_id": _MAYBE_TEXT,
            "submissions": _COUNT,
            "engagement": scored,
            "suspicion": suspicion,
            "latest_submission": _object(
                {"id": _TEXT, "at": _TIME, "form_id": _MAYBE_TEXT, "outcome": _TEXT}
            ),
        }
    )
    lead = _object(
        {
            "id": _TEXT,
            "name": _MAYBE_TEXT,
            "email": _MAYBE_TEXT,
            "phone": _MAYBE_TEXT,
            "status": _TEXT,
            "source": _TEXT,
            "visit_id": _MAYBE_TEXT,
            "utm_source": _MAYBE_TEXT,
            "utm_medium": _MAYBE_TEXT,
            "utm_campaign": _MAYBE_TEXT,
            "created_at": _TIME,
            "updated_at": _TIME,
        }
    )
    day = _object(
        {
            "date": _TEXT,
            "previous_date": _TEXT,
            "submissions": _ref("Compared"),
            "leads": _ref("Compared"),
            "suspicious": _ref("Compared"),
        }
    )
    return {
        "ReportPeriod": period,
        "Compared": {**compared, "description": "A number, and the previous period's."},
        "LeadList": _object(
            {
                **periods,
                "leads": {"type": "array", "items": item},
                "limit": _COUNT,
                "has_more": {"type": "boolean"},
                "next_cursor": _MAYBE_TEXT,
            }
        ),
        "LeadDetail": _object(
            {
                "lead": lead,
                "timeline": {"type": "array", "items": _entry()},
                "limits": _object(
                    {
                        "submissions": _COUNT,
                        "visits": _COUNT,
                        "events": _COUNT,
                        "messages": _COUNT,
                        "events_truncated": {"type": "boolean"},
                    }
                ),
            }
        ),
        "ProjectOptions": _object({"projects": {"type": "array", "items": _MAYBE_TEXT}}),
        "SourceOptions": _object({"sources": {"type": "array", "items": _MAYBE_TEXT}}),
        "EngineDaily": _object(
            {
                **periods,
                "days": {"type": "array", "items": day},
                "total": _object(
                    {
                        "submissions": _ref("Compared"),
                        "leads": _ref("Compared"),
                        "suspicious": _ref("Compared"),
                    }
                ),
            }
        ),
        "EngineByProject": _counted("project", _MAYBE_TEXT),
        "EngineBySource": _counted("source", _MAYBE_TEXT),
        "EngineByEngagement": _counted("engagement", _MAYBE_TEXT),
        "EngineOverview": _object(
            {
                **periods,
                **{
                    name: _ref("Compared")
                    for name in (
                        "submissions",
                        "leads",
                        "merged",
                        "kept_aside",
                        "suspicious",
                        "avg_engagement",
                        "avg_suspicion",
                    )
                },
            }
        ),
    }
