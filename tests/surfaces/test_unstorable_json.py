"""Text and numbers no database can keep whole (invalid UTF-8, lone surrogates in values or
keys, NUL anywhere, numbers out of range, NaN) get a 4xx in the surface's envelope on every
route that takes a body or a query: never a 500, never a partial write.

The first tests run each class over every such route (tests/fixtures/routes.py); the rest pin
the answers of a few routes exactly."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy.exc import DataError, StatementError
from starlette.requests import Request
from starlette.responses import Response
from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.surfaces.leadiosa import envelope as leadiosa
from leadline.surfaces.octanist import envelope as octanist
from leadline.surfaces.pulsegate import envelope as pulsegate
from tests.fixtures.badinput import BadInput, World, check
from tests.fixtures.factories import fetch_rows, make_site
from tests.fixtures.routes import FREE, KEY, NUMBER, OPERATIONS, URL, VALUE, Operation, ids

EVERY_ROUTE = pytest.mark.parametrize("operation", OPERATIONS, ids=ids(OPERATIONS))

INVALID_UTF8 = BadInput(
    body={
        VALUE: [b'"\xff\xfe"'],
        KEY: [b'"\xff"'],
        FREE: [b'"a\xc3"'],
        URL: [b'"https://shop.example/\xff"'],
    },
    members=[(b'"\xff": 1', False), (b'"x": "\xfe"', False)],
    query=["%FF%FE", "a%C3"],
    query_keys=["%FF=1"],
)
# In a query string a lone surrogate can only come as the bytes UTF-8 would give it, which are
# not UTF-8.
LONE_SURROGATES = BadInput(
    body={
        VALUE: [b'"\\ud800"'],
        KEY: [b'"\\udfff"'],
        FREE: [b'"a\\udc00"'],
        URL: [b'"https://shop.example/\\ud800"'],
    },
    members=[(b'"\\ud800": 1', False), (b'"x": "\\udbff"', False)],
    query=["%ED%A0%80"],
    query_keys=["%ED%B0%80=1"],
)
NUL = BadInput(
    body={
        VALUE: [b'"a\\u0000b"'],
        KEY: [b'"k\\u0000"'],
        FREE: [b'"\\u0000"'],
        URL: [b'"https://shop.example/\\u0000"'],
    },
    # The decoders refuse a NUL anywhere in a body, in fields a route skips too.
    members=[(b'"\\u0000": 1', True), (b'"x": "\\u0000"', True)],
    query=["a%00b", "%00"],
    query_keys=["a%00b=1"],
)
OUT_OF_RANGE = BadInput(
    body={NUMBER: [b"1e400", b"-1e999"], FREE: [b"1e400", b"-1e999", b"NaN", b"Infinity"]},
    members=[(b'"n": 1e400', False)],
    numbers=["1e400", "-1e999", "NaN"],
)


@EVERY_ROUTE
def test_invalid_utf8_is_refused(world: World, operation: Operation) -> None:
    check(world, operation, INVALID_UTF8)


@EVERY_ROUTE
def test_lone_surrogates_are_refused(world: World, operation: Operation) -> None:
    check(world, operation, LONE_SURROGATES)


@EVERY_ROUTE
def test_nul_is_refused(world: World, operation: Operation) -> None:
    check(world, operation, NUL)


@EVERY_ROUTE
def test_numbers_out_of_range_are_refused(world: World, operation: Operation) -> None:
    check(world, operation, OUT_OF_RANGE)


UNSTORABLE = {
    "invalid UTF-8": b'{"name": "\xff\xfe", "EMAIL": "a@example.com"}',
    "lone surrogate in a value": b'{"name": "\\ud800", "EMAIL": "a@example.com"}',
    "lone surrogate in a key": b'{"\\udfff": "x", "name": "a", "EMAIL": "a@example.com"}',
    "lone surrogate in free JSON": b'{"name": "a", "custom": {"k": "\\udfff"}}',
    "NUL in a key": b'{"a\\u0000": "x", "name": "a"}',
    "NUL in free JSON": b'{"name": "a", "custom": {"k": "\\u0000"}}',
    "a number out of range": b'{"name": "a", "value": 1e400}',
    "a negative number out of range": b'{"name": "a", "value": -1e999}',
    "a number out of range in free JSON": b'{"name": "a", "custom": {"n": 1e400}}',
    "NaN": b'{"name": "a", "custom": {"n": NaN}}',
}
CASES = pytest.mark.parametrize("body", list(UNSTORABLE.values()), ids=list(UNSTORABLE))


@CASES
def test_the_octanist_api_refuses(
    client: TestClient, settings: Settings, admin_key: str, body: bytes
) -> None:
    answer = client.post(
        "/api/leads",
        content=body,
        headers={"X-API-KEY": admin_key, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
    assert fetch_rows(settings, "SELECT id FROM leads") == []


@CASES
def test_the_leadiosa_api_refuses(client: TestClient, admin_key: str, body: bytes) -> None:
    answer = client.post(
        "/api/v1/webhooks",
        content=body.replace(b'"name"', b'"url"', 1),
        headers={"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "validation_error"


@CASES
def test_lead_capture_refuses(client: TestClient, settings: Settings, body: bytes) -> None:
    site = make_site(settings, "acme", "shop.example")
    with_site = body.replace(b"{", b'{"siteKey": "' + site.encode() + b'", ', 1)
    answer = client.post(
        "/lead.capture",
        content=with_site,
        headers={"Origin": "https://shop.example", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert "error" in answer.json()
    assert fetch_rows(settings, "SELECT id FROM lead_submissions") == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"siteKey": "SITE", "url": "https://shop.example/\xff"}',
        b'{"siteKey": "SITE", "url": "https://shop.example/", "title": "\\ud800"}',
        b'{"siteKey": "\xff"}',
    ],
)
def test_tracking_refuses(client: TestClient, settings: Settings, body: bytes) -> None:
    site = make_site(settings, "acme", "shop.example")
    answer = client.post(
        "/track/session/start",
        content=body.replace(b"SITE", site.encode()),
        headers={"Origin": "https://shop.example"},
    )
    assert answer.status_code == 400, answer.text
    assert fetch_rows(settings, "SELECT id FROM visits") == []


# Input that gets past a surface's decoding and turns out to be something no database keeps
# is found where it is used: each surface's one mapping of errors answers it with a 400.
UNSTORABLE_ERRORS = [
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
    RecursionError("maximum recursion depth exceeded"),
    OverflowError("Python int too large to convert to SQLite INTEGER"),
    DataError("INSERT INTO leads ...", {}, ValueError("NUL (0x00) bytes")),
    StatementError(
        "(builtins.UnicodeEncodeError) surrogates not allowed",
        "INSERT INTO leads ...",
        {},
        UnicodeEncodeError("utf-8", "\udc00", 0, 1, "surrogates not allowed"),
    ),
]


def _request() -> Request:
    return Request({"type": "http", "method": "POST", "path": "/x", "headers": [], "app": None})


@pytest.mark.parametrize("error", UNSTORABLE_ERRORS, ids=lambda exc: type(exc).__name__)
def test_each_envelope_answers_unstorable_input_with_400(error: Exception) -> None:
    octanist_answer = asyncio.run(octanist.render_error(_request(), error))
    assert octanist_answer.status_code == 400
    assert json.loads(bytes(octanist_answer.body))["error"]["code"] == "VALIDATION_ERROR"
    leadiosa_answer = asyncio.run(leadiosa.render_error(_request(), error))
    assert leadiosa_answer.status_code == 400
    assert json.loads(bytes(leadiosa_answer.body))["error"]["code"] == "validation_error"

    async def handler(request: Request) -> Response:
        raise error

    pulsegate_answer = asyncio.run(pulsegate.endpoint(handler)(_request()))
    assert pulsegate_answer.status_code == 400
    assert set(json.loads(bytes(pulsegate_answer.body))) == {"error"}


def test_anything_else_is_still_a_500() -> None:
    bug = KeyError("a bug")
    assert asyncio.run(octanist.render_error(_request(), bug)).status_code == 500
    assert asyncio.run(leadiosa.render_error(_request(), bug)).status_code == 500

    async def handler(request: Request) -> Response:
        raise bug

    with pytest.raises(KeyError):
        asyncio.run(pulsegate.endpoint(handler)(_request()))
