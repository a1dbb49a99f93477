"""/widget.js, the chat widget: its size budget (Leadiosa's widget is about 12 KB gzipped) and
that it is served like the tracker scripts."""

from __future__ import annotations

import gzip

from starlette.applications import Starlette
from starlette.testclient import TestClient

from leadline.tracking.scripts import SCRIPT_ROUTES, WIDGET_JS

BUDGET = 12 * 1024
AIM = 8 * 1024


def test_the_widget_fits_its_budget() -> None:
    size = len(gzip.compress(WIDGET_JS.body, compresslevel=9))
    print(f"/widget.js: {len(WIDGET_JS.body)} bytes, {size} bytes gzipped (budget {BUDGET})")
    assert size <= BUDGET
    assert size <= AIM, f"{size} bytes gzipped: over the 8 KB aimed at"


def test_the_widget_is_served_cached_and_compressed() -> None:
    with TestClient(Starlette(routes=SCRIPT_ROUTES)) as client:
        served = client.get("/widget.js", headers={"Accept-Encoding": "gzip"})
        assert served.status_code == 200
        assert served.headers["content-encoding"] == "gzip"
        assert int(served.headers["content-length"]) <= BUDGET
        assert served.headers["content-type"] == "application/javascript; charset=utf-8"
        assert served.headers["cache-control"] == "public, max-age=3600"
        assert served.content == WIDGET_JS.body  # the client undid the gzip
        again = client.get("/widget.js", headers={"If-None-Match": served.headers["etag"]})
        assert again.status_code == 304
        plain = client.get("/widget.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content.startswith(b"/*! leadline tracker")


def test_the_widget_has_no_dependencies_and_no_eval() -> None:
    text = WIDGET_JS.body.decode("ascii")
    for forbidden in ("import(", "require(", "eval(", "new Function", "document.cookie"):
        assert forbidden not in text
