"""``GET /openapi.json``: the OpenAPI 3.1 document of the PulseGate surface.

The PulseGate routes are plain Starlette (and plain ASGI for tracking), so nothing writes this
document for them: it is built here, once, on the first request. The request bodies come from
the same msgspec structs the routes decode with (``msgspec.json.schema_components``), so a field
added to a struct shows up here without a second edit; the answers are written out by hand from
what the routes render. See docs/api/ for the prose each part of it summarises.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadline import __version__
from leadline.http import MAX_FORM_BODY, MAX_HEADER_BYTES, MAX_HEADERS
from leadline.surfaces.pulsegate import schemas as management
from leadline.surfaces.pulsegate import tracking
from leadline.surfaces.pulsegate.capture import SUNSET
from leadline.tracking import schemas as tracker

Schema = dict[str, Any]

_REF = "#/components/schemas/{name}"


def _ref(name: str) -> Schema:
    return {"$ref": _REF.format(name=name)}


# ------------------------------------------------------------------------------ answers

_ERROR_SCHEMA: Schema = {
    "type": "object",
    "properties": {"error": {"type": "string", "description": "What was wrong, for a person."}},
    "required": ["error"],
}

# Why each error status is answered, the words every operation shares; an operation names the
# statuses it answers and may say more.
_ERROR_REASONS = {
    400: "The body or a parameter is not valid; the message names what.",
    401: "No key, or a key that is unknown or revoked.",
    403: "The key or the page may not do this.",
    404: "No such thing (or not this workspace's).",
    409: "It already exists, or the workspace is closed and takes no change.",
    413: "The body is too long.",
    415: "The body's Content-Type is not one this route reads.",
    429: "Over the per-IP limit; Retry-After says when to try again.",
    431: (
        f"The request's headers are too many (over {MAX_HEADERS}) or too long"
        f" (over {MAX_HEADER_BYTES} bytes)."
    ),
    503: "The server cannot take the request now.",
}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int, **reasons: str) -> dict[str, Schema]:
    """The error answers of an operation: ``{"error": "..."}`` with each status. Every route
    outside /api/ may be refused for its headers, so 431 is always among them."""
    answers: dict[str, Schema] = {}
    for status in sorted({*statuses, 431}):
        reason = reasons.get(f"e{status}", _ERROR_REASONS[status])
        answers[str(status)] = _json(_ref("Error"), reason)
    return answers


def _preflight(summary: str) -> Schema:
    return {
        "summary": summary,
        "description": "The CORS preflight, answered without a key.",
        "tags": ["CORS"],
        "responses": {"204": {"description": "The CORS headers, kept for a day."}},
    }


def _object(properties: dict[str, Schema], *, extra: bool = False) -> Schema:
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
    }
    if not extra:
        schema["additionalProperties"] = False
    return schema


_STRING: Schema = {"type": "string"}
_TIMESTAMP: Schema = {"type": "string", "description": "ISO 8601, UTC, milliseconds."}
_MAYBE_TIMESTAMP: Schema = {"type": ["string", "null"], "description": _TIMESTAMP["description"]}

_ANSWERS: dict[str, Schema] = {
    "Error": _ERROR_SCHEMA,
    "TrackAnswer": {
        "type": "object",
        "properties": {
            "session_id": _STRING,
            "visitor_id": _STRING,
            "timestamp": {"type": "integer", "description": "Epoch milliseconds."},
            "accepted": {"type": "integer", "description": "Events stored (event routes)."},
            "engagement_score": {"type": "integer", "description": "The visit's (session/end)."},
            "engagement_label": {"type": "string", "description": "The visit's (session/end)."},
        },
        "required": ["session_id", "visitor_id", "timestamp"],
    },
    "FormConfig": _object(
        {
            "site_key": _STRING,
            "form_id": _STRING,
            "name": _STRING,
            "form_json": {"type": "object", "description": "The form's definition."},
        }
    ),
    "CaptureAnswer": _object(
        {"success": {"const": True}, "submission_id": _STRING},
    ),
    "CallbackAnswer": _object(
        {"ok": {"const": True}, "submission_id": _STRING, "lead_id": {"type": ["string", "null"]}}
    ),
    "WebhookAnswer": {
        "oneOf": [
            _object({"ok": {"const": True}, "stored": {"const": True}, "lead_id": _STRING}),
            _object({"ok": {"const": True}, "stored": {"const": False}, "reason": _STRING}),
        ]
    },
    "Health": _object(
        {"status": {"const": "ok"}, "timestamp": {"type": "integer"}, "version": _STRING}
    ),
    "HealthDown": _object(
        {"status": {"const": "unavailable"}, "timestamp": {"type": "integer"}, "error": _STRING}
    ),
    "Domain": _object({"id": _STRING, "domain": _STRING}),
    "Site": _object(
        {
            "id": _STRING,
            "name": _STRING,
            "site_key": _STRING,
            "domains": {"type": "array", "items": _ref("Domain")},
            "respect_dnt": {"type": "boolean"},
            "respect_gpc": {"type": "boolean"},
            "fingerprinting": {"type": "boolean"},
            "created_at": _TIMESTAMP,
        }
    ),
    "Form": _object(
        {
            "id": _STRING,
            "site_id": _STRING,
            "form_id": _STRING,
            "name": _STRING,
            "enabled": {"type": "boolean"},
            "form_json": {"type": "object"},
            "created_at": _TIMESTAMP,
            "updated_at": _TIMESTAMP,
        }
    ),
    "Integration": _object(
        {
            "id": _STRING,
            "name": {"type": ["string", "null"]},
            "api_key": {
                "type": "string",
                "description": "The key's first characters; the whole key only when made.",
            },
            "created_at": _TIMESTAMP,
            "last_used_at": _MAYBE_TIMESTAMP,
            "revoked_at": _MAYBE_TIMESTAMP,
            "active": {"type": "boolean"},
        }
    ),
    "Deleted": _object({"deleted": {"const": True}, "id": _STRING}),
}


def _wrapped(name: str, schema: Schema) -> Schema:
    return _object({name: schema})


# ------------------------------------------------------------------------------ operations

_SITE_KEY_QUERY: Schema = {
    "name": "siteKey",
    "in": "query",
    "required": True,
    "description": "The site's public key (without it, or unknown: 403).",
    "schema": {"type": "string"},
}


def _path_id(name: str, what: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": what,
        "schema": {"type": "string"},
    }


def _body(schema: Schema, *, required: bool = True) -> Schema:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


_CLOSED = "The site's workspace is closed: it takes no change until its owner restores it."

_TRACK_ERRORS = _errors(
    400,
    403,
    404,
    409,
    413,
    429,
    503,
    e400="Not JSON, or a field of the wrong type or size; the message names it.",
    e403="The page's Origin is not one of the site's domains.",
    e404="Unknown siteKey, or a sessionId that is not a visit of the site.",
    e409=_CLOSED,
    e413=f"A body over {tracking.MAX_BODY // 1024} KB.",
    e503="Too much tracking is waiting to be written; Retry-After says when to try again.",
)


def _track(summary: str, body: str) -> Schema:
    return {
        "summary": summary,
        "tags": ["Tracking"],
        "description": (
            "The body may also be sent as text/plain (what navigator.sendBeacon sends); it is"
            " read as JSON all the same. Any other method: 405, with Allow: POST."
        ),
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _ref(body)},
                "text/plain": {
                    "schema": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": _ref(body),
                    },
                    "description": "The same JSON, as navigator.sendBeacon sends it.",
                },
            },
        },
        "responses": {"200": _json(_ref("TrackAnswer"), "Accepted and written."), **_TRACK_ERRORS},
    }


# The fields the scripts add to a form's own; everything else is the form's. In JSON, null is
# as good as leaving a field out; any other type than these is a 400.
_MAYBE_TEXT: Schema = {"type": ["string", "null"]}
_CAPTURE_FIELDS: Schema = {
    "type": "object",
    "properties": {
        "siteKey": {**_MAYBE_TEXT, "description": "The site's key, from a page of the site."},
        "formId": {**_MAYBE_TEXT, "description": "The form's id within the site."},
        "__visitor_id": _MAYBE_TEXT,
        "__session_id": _MAYBE_TEXT,
        "octa_sid": _MAYBE_TEXT,
        "__pg_hp": {"description": "The honeypot: a person leaves it empty; any value fills it."},
        "__pg_tts": {
            "type": ["number", "string", "null"],
            "description": "Seconds from render to submit (form.js sends a number).",
        },
        "__pg_consent": {
            "type": ["boolean", "string", "null"],
            "description": "Contact consent: true, or the text true, 1, on, yes.",
        },
    },
    "additionalProperties": True,
}
# A form's own post: every field, the scripts' too, is text.
_FORM_POST: Schema = {
    "type": "object",
    "properties": {
        name: {**field, "type": "string"} for name, field in _CAPTURE_FIELDS["properties"].items()
    },
    "additionalProperties": {"type": "string"},
}


def _capture() -> Schema:
    return {
        "summary": "Capture a form submission",
        "tags": ["Lead capture"],
        "description": (
            "From a backend with an integration (or admin) key in X-API-Key, or from a page of"
            " the site with siteKey and formId in the body. A browser's own form post may be"
            " answered with a redirect to the thank-you page instead of JSON."
        ),
        **_capture_exchange(),
    }


_DEPRECATION_HEADERS: Schema = {
    "Deprecation": {"description": "Always true.", "schema": {"const": "true"}},
    "Sunset": {
        "description": "When the alias goes away (an HTTP date).",
        "schema": {"const": SUNSET},
    },
    "Link": {
        "description": "The route to use instead.",
        "schema": {"const": '</lead.capture>; rel="successor-version"'},
    },
}


def _capture_alias() -> Schema:
    """``POST /lead`` and ``POST /``: the older paths of lead capture, answering as it does,
    every answer with the deprecation headers."""
    exchange = _capture_exchange()
    for answer in exchange["responses"].values():
        answer["headers"] = {**answer.get("headers", {}), **_DEPRECATION_HEADERS}
    return {
        "summary": "Capture a form submission (deprecated: use POST /lead.capture)",
        "tags": ["Lead capture"],
        "deprecated": True,
        "description": (
            "The same as POST /lead.capture, until the date in Sunset. Any other method: 405,"
            " with Allow: POST."
        ),
        **exchange,
    }


def _capture_exchange() -> Schema:
    """What lead capture takes and answers, whichever path it is sent to."""
    return {
        "security": [{}, {"ApiKey": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _CAPTURE_FIELDS},
                "application/x-www-form-urlencoded": {"schema": _FORM_POST},
                "multipart/form-data": {"schema": _FORM_POST},
                "text/plain": {
                    "schema": {"type": "string"},
                    "description": "A JSON object, or urlencoded fields (sendBeacon).",
                },
            },
        },
        "responses": {
            "200": _json(
                _ref("CaptureAnswer"), "Received (the same answer whatever became of it)."
            ),
            "303": {"description": "A browser's own post, sent on to the thank-you page."},
            **_errors(
                400,
                401,
                403,
                409,
                413,
                415,
                e400="The body cannot be read, or its fields are not valid.",
                e401="An unknown or revoked key.",
                e403="A key of another role, or a page that may not send this form.",
                e409="The workspace (the key's, or the site's) is closed: it takes no change.",
                e413=f"A body over {MAX_FORM_BODY // 1024} KB.",
            ),
        },
    }


def _callback(summary: str, body: Schema, answer: str, *, webhook: bool) -> Schema:
    secret = "LEADLINE_CRM_WEBHOOK_SECRET (else " if webhook else ""
    secret += "LEADLINE_CRM_CALLBACK_SECRET" + (")" if webhook else "")
    statuses = (400, 401, 409, 413, 503) if webhook else (400, 401, 404, 409, 413, 503)
    return {
        "summary": summary,
        "tags": ["CRM"],
        "description": f"The secret is {secret}, as a bearer token or in X-API-Key.",
        "security": [{"BearerAuth": []}, {"ApiKey": []}],
        "requestBody": _body(body),
        "responses": {
            "200": _json(_ref(answer), "Kept."),
            **_errors(
                *statuses,
                e400="The body is not a JSON object, or a field is missing or not valid.",
                e401="A wrong or missing secret.",
                e404="No such submission.",
                e409="The lead's workspace is closed: it takes no change.",
                e413=f"A body over {MAX_FORM_BODY // 1024} KB.",
                e503="No CRM secret is configured on this server.",
            ),
        },
    }


# What the CRM sends is text; a number is taken as its digits (CRMs number their records). An
# empty text is as good as none.
def _crm_text(max_length: int, description: str = "") -> Schema:
    schema: Schema = {"type": ["string", "integer"], "maxLength": max_length}
    return {**schema, "description": description} if description else schema


def _given(*names: str) -> Schema:
    """Each of ``names`` there, and not empty."""
    return {"required": list(names), "properties": {name: {"minLength": 1} for name in names}}


_SUBMISSION: Schema = {
    "submission_id": _crm_text(40),
    "lead_id": _crm_text(40, "Its newest submission."),
}
# Which submission: its id, or a lead's (then its newest).
_ONE_OF_THEM: Schema = {"anyOf": [_given("submission_id"), _given("lead_id")]}


def _manage(
    summary: str,
    status: int,
    answer: Schema,
    *errors: int,
    body: Schema | None = None,
    body_required: bool = True,
    parameters: list[Schema] | None = None,
) -> Schema:
    operation: Schema = {"summary": summary, "tags": ["Management"]}
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = _body(body, required=body_required)
    operation["responses"] = {
        str(status): _json(answer, "Done."),
        **_errors(
            400,
            401,
            403,
            *errors,
            *((413,) if body is not None else ()),
            e400=(
                "The body is not a JSON object, a field has the wrong type or is too long, or"
                " a field is unknown (a typo is refused, never ignored); or the query string"
                " is not UTF-8, or holds a NUL."
            ),
            e401="No key, or a key that is unknown or revoked (with WWW-Authenticate: Bearer).",
            e403="Not an admin key.",
            e404="No such site, domain, form or integration key in the workspace.",
            e409="The site key, domain or form id is taken; or the workspace is closed (every"
            " change is refused until its owner restores it).",
            e413=f"A body over {MAX_FORM_BODY // 1024} KB.",
        ),
    }
    return operation


_SITE_ID = _path_id("site_id", "The site's id.")
_FORM_ID = _path_id("form_id", "The form's id (its row id, not its form_id within the site).")
_KEY_ID = _path_id("key_id", "The integration key's id.")
_NOT_ALLOWED = "Any other method: 405, with Allow listing those this path answers."


def _tracking_paths() -> dict[str, Schema]:
    """The four tracking routes, each with its preflight."""
    return {
        "/track/session/start": {
            "post": _track("Start a visit", "VisitStart"),
            "options": _preflight("Preflight"),
        },
        "/track/event": {
            "post": _track("Record one event", "SingleEvent"),
            "options": _preflight("Preflight"),
        },
        "/track/events/batch": {
            "post": _track("Record events", "EventBatch"),
            "options": _preflight("Preflight"),
        },
        "/track/session/end": {
            "post": _track("End a visit", "VisitEnd"),
            "options": _preflight("Preflight"),
        },
    }


def _forms_paths() -> dict[str, Schema]:
    """The form definitions pages ask for."""
    return {
        "/forms/config": {
            "get": {
                "summary": "A form's definition, for a page of its site",
                "tags": ["Forms"],
                "parameters": [
                    _SITE_KEY_QUERY,
                    {
                        "name": "formId",
                        "in": "query",
                        "required": True,
                        "description": "The form's id within the site.",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": _json(_ref("FormConfig"), "The form."),
                    **_errors(
                        400,
                        403,
                        404,
                        e400="The query string is not UTF-8, or holds a NUL.",
                        e403="The asking page is not on one of the site's domains.",
                        e404="The site has no such form, or it is disabled.",
                    ),
                },
            },
            "options": _preflight("Preflight"),
        },
    }


def _capture_paths() -> dict[str, Schema]:
    """Lead capture, and what the CRM calls back with."""
    return {
        "/lead.capture": {"post": _capture(), "options": _preflight("Preflight")},
        "/lead": {"post": _capture_alias()},
        "/": {"post": _capture_alias()},
        "/lead.capture/crm-callback": {
            "post": _callback(
                "The CRM's id for a forwarded lead",
                {
                    "type": "object",
                    "properties": {**_SUBMISSION, "crm_lead_id": _crm_text(128)},
                    "allOf": [_given("crm_lead_id"), _ONE_OF_THEM],
                },
                "CallbackAnswer",
                webhook=False,
            )
        },
        "/lead.capture/make-callback": {
            "post": _callback(
                "Make.com's execution log for a forwarded lead",
                {
                    "type": "object",
                    "properties": {
                        **_SUBMISSION,
                        "execution_url": {"type": "string", "format": "uri", "maxLength": 2048},
                        "status": _crm_text(64),
                    },
                    "required": ["execution_url"],
                    **_ONE_OF_THEM,
                },
                "CallbackAnswer",
                webhook=False,
            )
        },
        "/webhooks/crm/lead": {
            "post": _callback(
                "A change to a lead in the CRM",
                {
                    "type": "object",
                    "properties": {"crm_lead_id": _crm_text(128), "event_type": _crm_text(64)},
                    "allOf": [_given("crm_lead_id")],
                    "additionalProperties": True,
                },
                "WebhookAnswer",
                webhook=True,
            )
        },
    }


def _site_paths() -> dict[str, Schema]:
    """Sites and their domains, for admin keys."""
    site = _wrapped("site", _ref("Site"))
    return {
        "/analytics/sites": {
            "description": _NOT_ALLOWED,
            "get": _manage(
                "The workspace's sites",
                200,
                _wrapped("sites", {"type": "array", "items": _ref("Site")}),
            ),
            "post": _manage("Add a site", 201, site, 409, body=_ref("SiteCreate")),
        },
        "/analytics/sites/{site_id}": {
            "description": _NOT_ALLOWED,
            "parameters": [_SITE_ID],
            "get": _manage("A site", 200, site, 404),
            "patch": _manage("Change a site", 200, site, 404, 409, body=_ref("SitePatch")),
            "delete": _manage("Delete a site", 200, _ref("Deleted"), 404, 409),
        },
        "/analytics/sites/{site_id}/domains": {
            "description": _NOT_ALLOWED,
            "parameters": [_SITE_ID],
            "get": _manage(
                "A site's domains",
                200,
                _wrapped("domains", {"type": "array", "items": _ref("Domain")}),
                404,
            ),
            "post": _manage(
                "Add a domain",
                201,
                _wrapped("domain", _ref("Domain")),
                404,
                409,
                body=_ref("DomainCreate"),
            ),
        },
        "/analytics/sites/{site_id}/domains/{domain_id}": {
            "description": _NOT_ALLOWED,
            "parameters": [_SITE_ID, _path_id("domain_id", "The domain's id.")],
            "delete": _manage("Remove a domain", 200, _ref("Deleted"), 404, 409),
        },
    }


def _site_form_paths() -> dict[str, Schema]:
    """Sites' form definitions, for admin keys."""
    form = _wrapped("form", _ref("Form"))
    return {
        "/analytics/forms": {
            "description": _NOT_ALLOWED,
            "get": _manage(
                "The workspace's forms",
                200,
                _wrapped("forms", {"type": "array", "items": _ref("Form")}),
                404,
                parameters=[
                    {
                        "name": "site_id",
                        "in": "query",
                        "required": False,
                        "description": "Only this site's forms.",
                        "schema": {"type": "string"},
                    }
                ],
            ),
            "post": _manage("Add a form", 201, form, 404, 409, body=_ref("FormCreate")),
        },
        "/analytics/forms/{form_id}": {
            "description": _NOT_ALLOWED,
            "parameters": [_FORM_ID],
            "get": _manage("A form", 200, form, 404),
            "patch": _manage("Change a form", 200, form, 404, 409, body=_ref("FormPatch")),
            "delete": _manage("Delete a form", 200, _ref("Deleted"), 404, 409),
        },
    }


def _integration_paths() -> dict[str, Schema]:
    """Integration keys, for admin keys."""
    return {
        "/analytics/integrations": {
            "description": _NOT_ALLOWED,
            "get": _manage(
                "The workspace's integration keys",
                200,
                _wrapped("integrations", {"type": "array", "items": _ref("Integration")}),
            ),
            "post": _manage(
                "Make an integration key",
                201,
                _object({"integration": _ref("Integration"), "api_key": _STRING}),
                409,
                body=_ref("IntegrationCreate"),
                body_required=False,
            ),
        },
        "/analytics/integrations/{key_id}": {
            "description": _NOT_ALLOWED,
            "parameters": [_KEY_ID],
            "get": _manage(
                "An integration key", 200, _wrapped("integration", _ref("Integration")), 404
            ),
            "delete": _manage(
                "Revoke an integration key",
                200,
                _object(
                    {"deleted": {"const": True}, "id": _STRING, "integration": _ref("Integration")}
                ),
                404,
                409,
            ),
        },
    }


def _management_paths() -> dict[str, Schema]:
    """The admin routes of sites, their domains and forms, and integration keys."""
    return {**_site_paths(), **_site_form_paths(), **_integration_paths()}


def _health_paths() -> dict[str, Schema]:
    """The health check."""
    return {
        "/health": {
            "get": {
                "summary": "Whether the server can serve requests",
                "tags": ["Health"],
                "responses": {
                    "200": _json(_ref("Health"), "The database answers."),
                    "503": _json(_ref("HealthDown"), "The database cannot be used."),
                    **{status: answer for status, answer in _errors().items() if status != "503"},
                },
            }
        },
    }


def _metrics_paths() -> dict[str, Schema]:
    """The process's metrics, for Prometheus."""
    return {
        "/metrics": {
            "get": {
                "summary": "This process's metrics, in Prometheus' text format",
                "description": (
                    "Served to loopback clients while LEADLINE_METRICS_TOKEN is unset (a request "
                    "that came through a proxy, with X-Forwarded-For, Forwarded or X-Real-IP, "
                    "is not one); with it set, to every client that sends it as "
                    "`Authorization: Bearer <token>`. The families are listed in "
                    "docs/operations.md."
                ),
                "tags": ["Health"],
                "responses": {
                    "200": {
                        "description": "The metrics (text format 0.0.4).",
                        "content": {"text/plain": {"schema": _STRING}},
                    },
                    **_errors(
                        401,
                        403,
                        e401="LEADLINE_METRICS_TOKEN is set and the request does not carry it.",
                        e403="No token is set and the client is not on the loopback interface.",
                    ),
                },
            }
        },
    }


def _paths() -> dict[str, Schema]:
    return {
        **_metrics_paths(),
        **_tracking_paths(),
        **_forms_paths(),
        **_capture_paths(),
        **_management_paths(),
        **_health_paths(),
        **_analytics_paths(),
    }


def _analytics_modules() -> list[Any]:
    # Imported here: those modules build on this one's helpers.
    from leadline.surfaces.pulsegate import (
        openapi_access,
        openapi_anomalies,
        openapi_leads,
        openapi_traffic,
    )

    return [openapi_traffic, openapi_leads, openapi_anomalies, openapi_access]


def _analytics_paths() -> dict[str, Schema]:
    found: dict[str, Schema] = {}
    for module in _analytics_modules():
        found.update(module.paths())
    return found


def _analytics_components() -> dict[str, Schema]:
    found: dict[str, Schema] = {}
    for module in _analytics_modules():
        found.update(module.components())
    return found


def _management_security(paths: dict[str, Schema]) -> None:
    """The management routes take an admin key, as a bearer token or in X-API-Key."""
    for path, item in paths.items():
        if path.startswith("/analytics/"):
            for method, operation in item.items():
                if method in ("get", "post", "patch", "delete"):
                    operation["security"] = [{"BearerAuth": []}, {"ApiKey": []}]


@functools.cache
def document() -> Schema:
    """The document, built once."""
    _, bodies = msgspec.json.schema_components(
        [
            tracker.VisitStart,
            tracker.SingleEvent,
            tracker.EventBatch,
            tracker.VisitEnd,
            management.SiteCreate,
            management.SitePatch,
            management.DomainCreate,
            management.FormCreate,
            management.FormPatch,
            management.IntegrationCreate,
        ],
        ref_template=_REF,
    )
    paths = _paths()
    _management_security(paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Leadline: PulseGate-compatible API",
            "version": __version__,
            "description": (
                "Tracking, forms config, lead capture, the CRM's callbacks and the management"
                " routes, compatible with PulseGate. Every answer carries CORS headers; errors"
                ' are {"error": "..."}.'
            ),
        },
        "paths": paths,
        "components": {
            "schemas": {**bodies, **_ANSWERS, **_analytics_components()},
            "securitySchemes": {
                "BearerAuth": {"type": "http", "scheme": "bearer"},
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


@functools.cache
def _encoded() -> bytes:
    return msgspec.json.encode(document())


async def openapi(request: Request) -> Response:
    return Response(_encoded(), media_type="application/json")


OPENAPI_ROUTES = [Route("/openapi.json", openapi, methods=["GET"])]
