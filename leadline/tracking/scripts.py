"""The browser scripts, /tracker.js (PulseGate) and /p (Octanist pixel), served from memory.

esbuild bundles and minifies them from ``static/src/`` into ``static/dist/`` (``make scripts``;
``make scripts-check`` proves the checked-in files are what the sources build to), so neither
the server nor its tests need node. Each built file is read, hashed and gzipped once, at import.
They are plain Starlette routes (``SCRIPT_ROUTES``): every page view of every customer site asks
for one.
/tracker.js and /p are each one tracker core (core.js) plus a face. /fp.js, the device
fingerprint, stands alone: the core loads it only when the site turned fingerprinting on and the
visitor's consent allows it, which keeps it out of the 4 KB faces.
/pf.js, the Octanist pixel's form capture, stands alone too: /p loads it only when its tag asks
for form capture (data-forms="true") or the page first calls OCT.submitLeadForm.
/form.js renders a site's forms (docs/forms.md); /pulse.js is the PulseGate tracker and the
forms in one script, for pages that want both from one tag. /widget.js is the chat widget
(docs/widget.md).
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MEDIA_TYPE = "application/javascript; charset=utf-8"
CACHE_CONTROL = "public, max-age=3600"


@dataclass(frozen=True, slots=True)
class Script:
    """One served script in both encodings, each with its own strong ETag (they differ in
    bytes, so they must not share one)."""

    body: bytes
    gzipped: bytes
    etag: str
    gzip_etag: str

    @classmethod
    def load(cls, name: str) -> Script:
        """The built file ``static/dist/<name>``, served byte for byte as esbuild wrote it."""
        body = (files("leadline.tracking") / "static" / "dist" / name).read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:32]
        return cls(
            body=body,
            gzipped=gzip.compress(body, compresslevel=9, mtime=0),
            etag=f'"{digest}"',
            gzip_etag=f'"{digest}-gzip"',
        )


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (RFC 9110 12.5.3, q-values included)."""
    gzip_q: float | None = None
    star_q: float | None = None
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            gzip_q = q
        elif coding == "*":
            star_q = q
    if gzip_q is not None:
        return gzip_q > 0
    return star_q is not None and star_q > 0


def etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison: a W/ prefix does not matter."""
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def serve(script: Script) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        compressed = accepts_gzip(request.headers.get("accept-encoding", ""))
        body, etag = (
            (script.gzipped, script.gzip_etag) if compressed else (script.body, script.etag)
        )
        headers = {
            "Cache-Control": CACHE_CONTROL,
            "ETag": etag,
            "Vary": "Accept-Encoding",
            "Access-Control-Allow-Origin": "*",
            # Pages that send Cross-Origin-Embedder-Policy can still load it without CORS.
            "Cross-Origin-Resource-Policy": "cross-origin",
            "X-Content-Type-Options": "nosniff",
        }
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None and etag_matches(if_none_match, etag):
            return Response(status_code=304, headers=headers)
        headers["Content-Type"] = MEDIA_TYPE
        headers["Content-Length"] = str(len(body))
        if compressed:
            headers["Content-Encoding"] = "gzip"
        if request.method == "HEAD":
            return Response(headers=headers)
        return Response(body, headers=headers)

    return endpoint


TRACKER_JS = Script.load("tracker.js")
PIXEL_JS = Script.load("pixel.js")
FINGERPRINT_JS = Script.load("fp.js")
PIXEL_FORMS_JS = Script.load("pf.js")
FORM_JS = Script.load("form.js")
PULSE_JS = Script.load("pulse.js")
WIDGET_JS = Script.load("widget.js")

SCRIPT_ROUTES = [
    Route("/tracker.js", serve(TRACKER_JS), methods=["GET", "HEAD"], name="tracker_js"),
    Route("/p", serve(PIXEL_JS), methods=["GET", "HEAD"], name="pixel_js"),
    Route("/fp.js", serve(FINGERPRINT_JS), methods=["GET", "HEAD"], name="fingerprint_js"),
    Route("/pf.js", serve(PIXEL_FORMS_JS), methods=["GET", "HEAD"], name="pixel_forms_js"),
    Route("/form.js", serve(FORM_JS), methods=["GET", "HEAD"], name="form_js"),
    Route("/pulse.js", serve(PULSE_JS), methods=["GET", "HEAD"], name="pulse_js"),
    Route("/widget.js", serve(WIDGET_JS), methods=["GET", "HEAD"], name="widget_js"),
]
