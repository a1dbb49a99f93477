"""``GET /widget/v1/openapi.json``: the OpenAPI 3.1 document of the chat widget's endpoints
(leadline.surfaces.widget), written out by hand as the routes render; docs/widget.md has the
prose."""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadline import __version__

Schema = dict[str, Any]

_STRING: Schema = {"type": "string"}
_TOKEN = {
    "name": "X-Widget-Token",
    "in": "header",
    "required": True,
    "description": "The token the widget was given when it started a conversation or identified"
    " the visitor.",
    "schema": _STRING,
}
_WORKSPACE = {
    "name": "workspace",
    "in": "path",
    "required": True,
    "description": "The workspace's id or slug (the tag's data-workspace).",
    "schema": _STRING,
}
_CONVERSATION = {"name": "conversation", "in": "path", "required": True, "schema": _STRING}

_REASONS = {
    400: "The body or a parameter is not valid; the message names what.",
    401: "No widget token.",
    403: "The page is not on a domain of the workspace's sites, the token is not this"
    " workspace's, or (identify) the hash is wrong.",
    404: "No such workspace, or no such conversation of the token's contact.",
    409: "The workspace is closed.",
    413: "The body is too long.",
    429: "Over the per-IP limit; Retry-After says when to try again.",
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _answer(schema: Schema, description: str, *errors: int) -> dict[str, Schema]:
    answers = {"200": _json({"type": "object", "properties": {"data": schema}}, description)}
    for status in sorted({*errors, 403, 404, 409, 429}):
        answers[str(status)] = _json(_ref("Error"), _REASONS[status])
    return answers


def _body(properties: dict[str, Schema], required: list[str]) -> Schema:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": properties,
                    "required": required,
                    "additionalProperties": False,
                }
            }
        },
    }


_MESSAGE: Schema = {
    "type": "object",
    "properties": {
        "id": _STRING,
        "seq": {"type": "integer", "description": "Its place in the conversation, from 1."},
        "from": {"enum": ["contact", "operator", "ai"]},
        "text": _STRING,
        "created_at": {"type": "string", "description": "ISO 8601, UTC, milliseconds."},
    },
    "required": ["id", "seq", "from", "text", "created_at"],
}
_JOINED: Schema = {
    "type": "object",
    "properties": {
        "token": {"type": "string", "description": "Send it as X-Widget-Token from now on."},
        "contact_id": _STRING,
        "conversation_id": {
            "type": "string",
            "description": "The contact's newest conversation, when it has one.",
        },
        "message": _ref("Message"),
    },
    "required": ["token", "contact_id"],
}
_ERROR: Schema = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": _STRING, "message": _STRING, "request_id": _STRING},
            "required": ["code", "message", "request_id"],
        }
    },
    "required": ["error"],
}


def _paths() -> dict[str, Schema]:
    base = "/widget/v1/{workspace}"
    messages = base + "/conversations/{conversation}/messages"
    text = {"type": "string", "maxLength": 10_000}
    return {
        base + "/config": {
            "parameters": [_WORKSPACE],
            "get": {
                "summary": "Whether anyone is online (else the offline form)",
                "responses": _answer(
                    {
                        "type": "object",
                        "properties": {
                            "online": {"type": "boolean"},
                            "offline_form": {"type": "boolean"},
                            "identity_verification": {"type": "boolean"},
                        },
                    },
                    "What the widget shows.",
                ),
            },
        },
        base + "/conversations": {
            "parameters": [_WORKSPACE],
            "post": {
                "summary": "Start a conversation as the visitor",
                "description": "Without X-Widget-Token a new contact is made. `offline`: the"
                " offline form (an email is required then).",
                "parameters": [{**_TOKEN, "required": False}],
                "requestBody": _body(
                    {
                        "text": text,
                        "name": _STRING,
                        "email": _STRING,
                        "visit_id": {"type": "string", "description": "The tracker's visit."},
                        "offline": {"type": "boolean"},
                    },
                    ["text"],
                ),
                "responses": _answer(_JOINED, "The conversation and its first message.", 400),
            },
        },
        messages: {
            "parameters": [_WORKSPACE, _CONVERSATION],
            "get": {
                "summary": "The conversation's messages after a seq",
                "parameters": [
                    _TOKEN,
                    {
                        "name": "after",
                        "in": "query",
                        "required": False,
                        "description": "The seq of the last message the widget has.",
                        "schema": {"type": "integer", "minimum": 0},
                    },
                ],
                "responses": _answer(
                    {
                        "type": "object",
                        "properties": {"messages": {"type": "array", "items": _ref("Message")}},
                    },
                    "At most 100 messages, oldest first.",
                    400,
                    401,
                ),
            },
            "post": {
                "summary": "Send a message as the visitor",
                "parameters": [_TOKEN],
                "requestBody": _body({"text": text}, ["text"]),
                "responses": _answer(
                    {"type": "object", "properties": {"message": _ref("Message")}},
                    "The message.",
                    400,
                    401,
                ),
            },
        },
        base + "/conversations/{conversation}/stream": {
            "parameters": [_WORKSPACE, _CONVERSATION],
            "get": {
                "summary": "The conversation's new messages and typing, as server-sent events",
                "description": "Sends the messages after Last-Event-ID (or `after`) first, then"
                " each `message.created` (its `id:` the message's seq) and `typing` event as it"
                " happens; comment lines are heartbeats. EventSource cannot send headers, so"
                " the token may go in `token`.",
                "parameters": [
                    {**_TOKEN, "required": False},
                    {
                        "name": "token",
                        "in": "query",
                        "required": False,
                        "description": "The widget token, when X-Widget-Token cannot be sent.",
                        "schema": _STRING,
                    },
                    {
                        "name": "after",
                        "in": "query",
                        "required": False,
                        "description": "The seq of the last message the widget has.",
                        "schema": {"type": "integer", "minimum": 0},
                    },
                ],
                "responses": {
                    **_answer({"type": "object"}, "unused", 400, 401),
                    "200": {
                        "description": "The event stream.",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                },
            },
        },
        base + "/conversations/{conversation}/typing": {
            "parameters": [_WORKSPACE, _CONVERSATION],
            "post": {
                "summary": "Tell the operators the visitor is typing (not stored)",
                "parameters": [_TOKEN],
                "requestBody": _body({"typing": {"type": "boolean"}}, []),
                "responses": _answer(
                    {
                        "type": "object",
                        "properties": {"conversation_id": _STRING, "typing": {"type": "boolean"}},
                    },
                    "Told.",
                    400,
                    401,
                ),
            },
        },
        base + "/identify": {
            "parameters": [_WORKSPACE],
            "post": {
                "summary": "Identify the visitor (leadiosa.identify)",
                "parameters": [{**_TOKEN, "required": False}],
                "requestBody": _body(
                    {
                        "id": {"type": "string", "maxLength": 200},
                        "email": _STRING,
                        "name": _STRING,
                        "attributes": {"type": "object"},
                        "hash": {
                            "type": "string",
                            "description": "HMAC-SHA256 of id with the workspace's identity"
                            " secret, hex; required when the workspace verifies identities.",
                        },
                    },
                    ["id"],
                ),
                "responses": _answer(_JOINED, "The identified contact.", 400),
            },
        },
    }


@functools.cache
def document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Leadline chat widget",
            "version": __version__,
            "description": "The public endpoints /widget.js calls. Every one answers only pages"
            " on a domain of the workspace's sites (CORS for that origin only).",
        },
        "paths": _paths(),
        "components": {"schemas": {"Error": _ERROR, "Message": _MESSAGE}},
    }


async def _serve(request: Request) -> Response:
    return Response(msgspec.json.encode(document()), media_type="application/json")


WIDGET_OPENAPI_ROUTES = [Route("/widget/v1/openapi.json", _serve, methods=["GET"])]
