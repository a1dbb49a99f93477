"""The browser scripts, /tracker.js (PulseGate) and /p (Octanist pixel), served from memory.

Both are one tracker core plus a face, assembled, hashed and gzipped once at import. They are
plain Starlette routes (``SCRIPT_ROUTES``): every page view of every customer site asks for one.
/fp.js, the device fingerprint, stands alone: the core loads it only when the site turned
fingerprinting on and the visitor's consent allows it, which keeps it out of the 4 KB faces.
/pf.js, the Octanist pixel's form capture, stands alone too: /p loads it only when its tag asks
for form capture (data-forms="true") or the page first calls OCT.submitLeadForm.
/form.js renders a site's forms (docs/forms.md); /pulse.js is the PulseGate tracker and the
forms in one script, for pages that want both from one tag.
"""

from __future__ import annotations

import gzip
import hashlib
import re
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
        """The tracker core with one face."""
        return cls.build("core.js", face)

    @classmethod
    def standalone(cls, name: str) -> Script:
        """One source on its own, without the core (/fp.js, /pf.js, /form.js)."""
        return cls.build(name)

    @classmethod
    def build(cls, *names: str) -> Script:
        static = files("leadline.tracking") / "static"
        sources = "\n".join(compact((static / name).read_text(encoding="utf-8")) for name in names)
        # One function scope around them: nothing leaks into the page but what they put on
        # window on purpose.
        text = (
            f"/*! leadline tracker {VERSION} */\n"
            f"(function () {{\n'use strict';\n{sources}\n}})();\n"
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
    """Drop indentation, blank lines and whole-line ``//`` comments, join a line that ends in
    ``{``, ``;`` or ``,`` to the next, drop the spaces that separate no tokens (see
    :func:`squeeze`), and change nothing else.

    The sources are written for review and the budget is 4 KB gzipped; this keeps both without
    a JavaScript toolchain. It is safe because no string in them spans lines (``squeeze``
    refuses one that does), and a line break after those three characters means nothing to
    JavaScript (no semicolon is ever inserted there). A line with ``//`` anywhere in it is not
    joined: it may end in a comment.
    """
    out: list[str] = []
    for line in (line.strip() for line in source.splitlines()):
        if not line or line.startswith("//"):
            continue
        line = squeeze(line)
        if out and out[-1].endswith(("{", ";", ",")) and "//" not in out[-1]:
            out[-1] += line
        else:
            out.append(line)
    return "\n".join(out)


# A space beside one of these separates no two tokens: it can go ...
_TIGHT = frozenset("{}()[];,:=?&|<>!*%^~+-/")
# ... unless it keeps two tokens from becoming another: a + +b, a - -b, i-- > 0 (-->), x < !y
# (<!), a / /re/ and the comment openers and closers.
_APART = frozenset(
    {("+", "+"), ("-", "-"), ("-", ">"), ("<", "!"), ("/", "/"), ("/", "*"), ("*", "/")}
)
# After one of these, or one of the keywords, a slash opens a regular expression; after
# anything else (a name, a number, a closing bracket) it divides.
_BEFORE_REGEX = frozenset("(,=:[!&|?{};+-*%<>~^")
_LAST_WORD = re.compile(r"[\w$]+$")
_REGEX_KEYWORDS = frozenset(
    {"return", "typeof", "case", "in", "of", "new", "delete", "void", "throw", "else", "do"}
)


def squeeze(line: str) -> str:
    """One line without the spaces that separate no tokens: ``var a = f(b, c);`` becomes
    ``var a=f(b,c);``. Strings, regular expressions and a trailing comment are kept as they
    are; a string or a regular expression that does not end on its line is refused."""
    out: list[str] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch in "'\"`":
            end = _literal_end(line, i, ch)
        elif ch == "/" and line.startswith("//", i):
            end = n  # a trailing comment
        elif ch == "/" and line.startswith("/*", i):
            end = line.find("*/", i + 2) + 2
            if end == 1:
                raise ValueError(f"a comment does not end on its line: {line}")
        elif ch == "/" and _regex_may_start("".join(out).rstrip()):
            end = _literal_end(line, i, "/")
            while end < n and line[end].isalpha():  # flags
                end += 1
        elif ch in " \t":
            end = i
            while end < n and line[end] in " \t":
                end += 1
            before, after = (out[-1][-1] if out else ""), line[end : end + 1]
            tight = before in _TIGHT or after in _TIGHT
            if before and after and (not tight or (before, after) in _APART):
                out.append(" ")
            i = end
            continue
        else:
            end = i + 1
        out.append(line[i:end])
        i = end
    return "".join(out)


def _regex_may_start(before: str) -> bool:
    """Whether a slash after ``before`` opens a regular expression. (The sources never put
    one right after a closing parenthesis, as ``if (a) /b/.test(c)`` would: that reads as a
    division here.)"""
    if not before or before[-1] in _BEFORE_REGEX:
        return True
    word = _LAST_WORD.search(before)
    return word is not None and word.group() in _REGEX_KEYWORDS


def _literal_end(line: str, start: int, quote: str) -> int:
    """Where the string or regular expression opening at ``start`` ends (just after it)."""
    i, in_class = start + 1, False
    while i < len(line):
        ch = line[i]
        if ch == "\\":
            i += 2
            continue
        if quote == "/" and ch in "[]":
            in_class = ch == "["
        elif ch == quote and not in_class:
            return i + 1
        i += 1
    what = "regular expression" if quote == "/" else "string"
    raise ValueError(f"a {what} does not end on its line: {line}")


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
FINGERPRINT_JS = Script.standalone("fp.js")
PIXEL_FORMS_JS = Script.standalone("pf.js")
FORM_JS = Script.standalone("form.js")
PULSE_JS = Script.build("core.js", "tracker.js", "form.js", "pulse.js")

SCRIPT_ROUTES = [
    Route("/tracker.js", serve(TRACKER_JS), methods=["GET", "HEAD"], name="tracker_js"),
    Route("/p", serve(PIXEL_JS), methods=["GET", "HEAD"], name="pixel_js"),
    Route("/fp.js", serve(FINGERPRINT_JS), methods=["GET", "HEAD"], name="fingerprint_js"),
    Route("/pf.js", serve(PIXEL_FORMS_JS), methods=["GET", "HEAD"], name="pixel_forms_js"),
    Route("/form.js", serve(FORM_JS), methods=["GET", "HEAD"], name="form_js"),
    Route("/pulse.js", serve(PULSE_JS), methods=["GET", "HEAD"], name="pulse_js"),
]
