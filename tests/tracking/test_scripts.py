"""Serving /tracker.js, /p, /fp.js, /pf.js, /form.js and /pulse.js: the size budgets, caching,
compression and headers."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from importlib.resources import files

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from leadline.forms.sensitive import SENSITIVE_NAME
from leadline.tracking.scripts import (
    FINGERPRINT_JS,
    FORM_JS,
    PIXEL_FORMS_JS,
    PIXEL_JS,
    PULSE_JS,
    SCRIPT_ROUTES,
    TRACKER_JS,
    Script,
    accepts_gzip,
    etag_matches,
)

BUDGET = 4096
# /fp.js, loaded on demand by the other two, has a budget of its own.
FINGERPRINT_BUDGET = 1536
PATHS = {"/tracker.js": TRACKER_JS, "/p": PIXEL_JS, "/fp.js": FINGERPRINT_JS}
# /pf.js, the pixel's form capture, loaded on demand by /p, has one too.
PIXEL_FORMS_BUDGET = 2048
# The forms, alone and with the tracker: no budget, but served the same way.
FORM_PATHS = {"/form.js": FORM_JS, "/pulse.js": PULSE_JS}
SERVED = {**PATHS, "/pf.js": PIXEL_FORMS_JS, **FORM_PATHS}
# The file esbuild builds for each route (static/package.json, `make scripts`).
STATIC = files("leadline.tracking") / "static"
BUILT = {
    "/tracker.js": "tracker.js",
    "/p": "pixel.js",
    "/fp.js": "fp.js",
    "/pf.js": "pf.js",
    "/form.js": "form.js",
    "/pulse.js": "pulse.js",
}
VERSION = json.loads((STATIC / "package.json").read_text(encoding="utf-8"))["version"]
# Every script opens with its version, then runs strict (as its sources are) inside one function
# scope of its own.
OPENING = f'/*! leadline tracker {VERSION} */\n"use strict";(()=>{{'


@pytest.fixture(scope="module")
def scripts() -> Iterator[TestClient]:
    with TestClient(Starlette(routes=SCRIPT_ROUTES)) as client:
        yield client


@pytest.mark.parametrize("path", PATHS)
def test_each_script_fits_the_budget(scripts: TestClient, path: str) -> None:
    body = scripts.get(path, headers={"Accept-Encoding": "identity"}).content
    assert len(gzip.compress(body, compresslevel=9)) <= BUDGET
    served = scripts.get(path, headers={"Accept-Encoding": "gzip"})
    assert int(served.headers["content-length"]) <= BUDGET


def test_the_fingerprint_script_fits_its_budget(scripts: TestClient) -> None:
    served = scripts.get("/fp.js", headers={"Accept-Encoding": "gzip"})
    assert served.headers["content-encoding"] == "gzip"
    assert int(served.headers["content-length"]) <= FINGERPRINT_BUDGET
    assert len(gzip.compress(FINGERPRINT_JS.body, compresslevel=9)) <= FINGERPRINT_BUDGET


def test_the_pixels_form_capture_fits_its_budget(scripts: TestClient) -> None:
    served = scripts.get("/pf.js", headers={"Accept-Encoding": "gzip"})
    assert served.headers["content-encoding"] == "gzip"
    assert int(served.headers["content-length"]) <= PIXEL_FORMS_BUDGET
    assert len(gzip.compress(PIXEL_FORMS_JS.body, compresslevel=9)) <= PIXEL_FORMS_BUDGET


@pytest.mark.parametrize("path", SERVED)
def test_each_route_serves_its_built_file_under_the_version_comment(
    scripts: TestClient, path: str
) -> None:
    """Byte for byte the checked-in build of that route's script, whose first line names the
    version package.json gives the scripts."""
    built = (STATIC / "dist" / BUILT[path]).read_bytes()
    for encoding in ("identity", "gzip"):
        served = scripts.get(path, headers={"Accept-Encoding": encoding})
        assert served.content == built
    assert built.decode().startswith(OPENING)
    assert built.decode().endswith("})();\n")


@pytest.mark.parametrize("path", SERVED)
def test_headers(scripts: TestClient, path: str) -> None:
    response = scripts.get(path, headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["access-control-allow-origin"] == "*"
    assert "content-encoding" not in response.headers
    assert response.content == SERVED[path].body
    assert int(response.headers["content-length"]) == len(SERVED[path].body)
    etag = response.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)  # strong: no W/


@pytest.mark.parametrize("path", SERVED)
def test_gzip_when_accepted(scripts: TestClient, path: str) -> None:
    raw = scripts.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["vary"] == "Accept-Encoding"
    assert raw.content == SERVED[path].body  # the client decoded it
    assert int(raw.headers["content-length"]) == len(SERVED[path].gzipped)
    assert gzip.decompress(SERVED[path].gzipped) == SERVED[path].body
    plain = scripts.get(path, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in plain.headers
    # Each encoding is its own representation, with its own strong ETag.
    assert raw.headers["etag"] != plain.headers["etag"]


@pytest.mark.parametrize("path", SERVED)
@pytest.mark.parametrize("encoding", ["gzip", "identity"])
def test_if_none_match_answers_304(scripts: TestClient, path: str, encoding: str) -> None:
    first = scripts.get(path, headers={"Accept-Encoding": encoding})
    etag = first.headers["etag"]
    for if_none_match in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = scripts.get(
            path, headers={"Accept-Encoding": encoding, "If-None-Match": if_none_match}
        )
        assert again.status_code == 304, if_none_match
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == "public, max-age=3600"
        assert again.headers["vary"] == "Accept-Encoding"
    stale = scripts.get(path, headers={"Accept-Encoding": encoding, "If-None-Match": '"old"'})
    assert stale.status_code == 200
    assert stale.content == SERVED[path].body


@pytest.mark.parametrize("path", SERVED)
def test_head(scripts: TestClient, path: str) -> None:
    response = scripts.head(path, headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) == len(SERVED[path].body)
    assert response.headers["etag"] == SERVED[path].etag
    gzipped = scripts.head(path, headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip"
    assert int(gzipped.headers["content-length"]) == len(SERVED[path].gzipped)


def test_other_methods_are_refused(scripts: TestClient) -> None:
    for path in SERVED:
        assert scripts.post(path).status_code == 405


def test_etag_is_a_hash_of_the_content() -> None:
    again = Script.load("tracker.js")
    assert again == TRACKER_JS  # read the same way every time
    digest = hashlib.sha256(TRACKER_JS.body).hexdigest()[:32]
    assert (TRACKER_JS.etag, TRACKER_JS.gzip_etag) == (f'"{digest}"', f'"{digest}-gzip"')
    assert Script.load("fp.js") == FINGERPRINT_JS
    assert FINGERPRINT_JS.etag not in (TRACKER_JS.etag, PIXEL_JS.etag)
    assert TRACKER_JS.etag != PIXEL_JS.etag
    assert TRACKER_JS.gzip_etag != TRACKER_JS.etag


def test_each_face_carries_its_own_api() -> None:
    tracker = TRACKER_JS.body.decode()
    pixel = PIXEL_JS.body.decode()
    assert "PulseGateSession" in tracker
    assert ".OCT" not in tracker
    assert ".OCT=" in pixel
    assert "PulseGateSession" not in pixel
    for text in (tracker, pixel):
        assert text.startswith(OPENING)
        assert "\n//" not in text  # comments are not served


def test_the_fingerprint_is_computed_only_in_fp_js() -> None:
    """The faces only load /fp.js; it stands alone, without the core, and adds one global."""
    fingerprint = FINGERPRINT_JS.body.decode()
    assert fingerprint.startswith(OPENING)
    assert "\n//" not in fingerprint
    assert ".__pgfp=" in fingerprint
    assert "/track/" not in fingerprint
    for computation in ("toDataURL", "OfflineAudioContext", "getContext", "digest"):
        assert computation in fingerprint
        assert computation not in TRACKER_JS.body.decode()
        assert computation not in PIXEL_JS.body.decode()
    for face in (TRACKER_JS, PIXEL_JS):
        assert '"/fp.js"' in face.body.decode()


@pytest.mark.parametrize("path", FORM_PATHS)
def test_the_form_scripts_are_served_compressed_and_cached(scripts: TestClient, path: str) -> None:
    served = scripts.get(path, headers={"Accept-Encoding": "gzip"})
    assert served.status_code == 200
    assert served.headers["content-encoding"] == "gzip"
    assert served.headers["cache-control"] == "public, max-age=3600"
    assert served.headers["content-type"] == "application/javascript; charset=utf-8"
    assert served.headers["cross-origin-resource-policy"] == "cross-origin"
    assert served.headers["etag"] == FORM_PATHS[path].gzip_etag
    # Compressed well below the plain text, and small for what it does.
    assert int(served.headers["content-length"]) < len(FORM_PATHS[path].body) / 2
    assert int(served.headers["content-length"]) <= (4096 if path == "/form.js" else 8192)
    cached = scripts.get(
        path, headers={"Accept-Encoding": "gzip", "If-None-Match": served.headers["etag"]}
    )
    assert cached.status_code == 304


def test_the_form_scripts_carry_the_forms_and_only_pulse_js_the_tracker() -> None:
    form = FORM_JS.body.decode()
    pulse = PULSE_JS.body.decode()
    tracker = TRACKER_JS.body.decode()
    for text in (form, pulse):
        assert text.startswith(OPENING)
        assert "\n//" not in text
        for part in (".PulseGateForms=", '"/forms/config?"', '"/lead.capture"', "__pg_website"):
            assert part in text
    # form.js stands alone: no tracker core, and nothing of the forms in the tracker faces.
    assert "/track/" not in form
    assert "PulseGateSession" in form  # it reads the tracker's ids, when one runs
    # The face's globals are set by the tracker face alone.
    face_globals = re.compile(r"\.PulseGateSession=\w+\.PulseGate=")
    assert not face_globals.search(form)
    for face in (TRACKER_JS, PIXEL_JS):
        assert "/lead.capture" not in face.body.decode()
        assert "/forms/config" not in face.body.decode()
    # pulse.js is the tracker face, the forms and what joins them.
    assert face_globals.search(pulse)
    assert re.search(r"\.PulseGateSession\|\|\w+\)\.renderForm=\w+", pulse)
    assert "getVisitorId" in tracker
    assert "getLandingUrl" in tracker


def test_the_pixels_form_capture_is_in_pf_js_and_the_pixel_only_loads_it() -> None:
    """/p has the stub of OCT.submitLeadForm and loads /pf.js; the capture itself, its rules
    and its route are in /pf.js alone, without the tracker core."""
    pixel = PIXEL_JS.body.decode()
    forms = PIXEL_FORMS_JS.body.decode()
    assert forms.startswith(OPENING)
    assert "\n//" not in forms
    assert "submitLeadForm:" in pixel
    assert '"/pf.js"' in pixel
    assert '"/pf.js"' not in TRACKER_JS.body.decode()
    assert "submitLeadForm" not in TRACKER_JS.body.decode()
    assert '"/api/integrations/incoming/pixel/"' in forms
    assert "/track/" not in forms
    for face in (TRACKER_JS, PIXEL_JS):
        assert "/api/integrations/" not in face.body.decode()
        assert "captcha" not in face.body.decode()
    assert "sendBeacon(" in forms


def test_pf_js_leaves_out_the_names_the_server_leaves_out() -> None:
    """The browser's list of names never sent is the server's, character for character."""
    literal = re.compile("=/" + re.escape(SENSITIVE_NAME.pattern) + "/[^a-z]")
    assert literal.search(PIXEL_FORMS_JS.body.decode())


def test_the_form_scripts_are_built_the_same_way_every_time() -> None:
    assert Script.load("form.js") == FORM_JS
    assert Script.load("pf.js") == PIXEL_FORMS_JS
    assert Script.load("pulse.js") == PULSE_JS
    etags = {script.etag for script in SERVED.values()}
    assert len(etags) == len(SERVED)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", False),
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0", False),
        ("br, identity", False),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),
        ("x-gzip", True),
        ("gzip;q=bogus", False),
    ],
)
def test_accepts_gzip(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"abcd"', False),
        ("abc", False),
        ("", False),
    ],
)
def test_etag_matches(header: str, expected: bool) -> None:
    assert etag_matches(header, '"abc"') is expected
