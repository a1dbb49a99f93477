"""The browser scripts, /tracker.js (PulseGate) and /p (Octanist pixel), served from memory.

Both are one tracker core plus a face, assembled, hashed and gzipped once at import. They are
plain Starlette routes (``SCRIPT_ROUTES``): every page view of every customer site asks for one.
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

VERSION = "1.0.0"
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
    def assemble(cls, face: str) -> Script:
        static = files("leadline.tracking") / "static"
        core = compact((static / "core.js").read_text(encoding="utf-8"))
        face_source = compact((static / face).read_text(encoding="utf-8"))
        # One function scope around core and face: nothing leaks into the page but what the
        # face puts on window on purpose.
        text = (
            f"/*! leadline tracker {VERSION} */\n"
            f"(function () {{\n'use strict';\n{core}\n{face_source}\n}})();\n"
        )
        body = text.encode("utf-8")
        digest = hashlib.sha256(body).hexdigest()[:32]
        return cls(
            body=body,
            gzipped=gzip.compress(body, compresslevel=9, mtime=0),
            etag=f'"{digest}"',
            gzip_etag=f'"{digest}-gzip"',
        )


def compact(source: str) -> str:
    """Drop indentation, blank lines and whole-line ``//`` comments, and change nothing else.

    The sources are written for review and the budget is 4 KB gzipped; this keeps both without
    a JavaScript toolchain. It is safe because no string in them spans lines.
    """
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


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


TRACKER_JS = Script.assemble("tracker.js")
PIXEL_JS = Script.assemble("pixel.js")

SCRIPT_ROUTES = [
    Route("/tracker.js", serve(TRACKER_JS), methods=["GET", "HEAD"], name="tracker_js"),
    Route("/p", serve(PIXEL_JS), methods=["GET", "HEAD"], name="pixel_js"),
]
