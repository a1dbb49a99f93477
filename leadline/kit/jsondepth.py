"""How deep JSON may nest: a documented maximum for every body and every piece of free JSON
a feature keeps (docs/api: "Bodies"), checked before decoding, since decoders recurse once per
level."""

from __future__ import annotations

import re
from itertools import accumulate

from leadline.errors import ValidationFailed

MAX_JSON_DEPTH = 32

# A JSON string, escapes included: a bracket inside one opens nothing.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# Every byte but the four brackets, for bytes.translate to delete.
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_STEP = [0] * 256
for _opening in b"[{":
    _STEP[_opening] = 1
for _closing in b"]}":
    _STEP[_closing] = -1


def json_depth(text: bytes) -> int:
    """How deep the JSON text nests, objects and arrays counted alike."""
    brackets = _STRING.sub(b"", text).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def check_json_depth(text: bytes, what: str = "the body") -> None:
    """ValidationFailed when ``text`` nests deeper than MAX_JSON_DEPTH. Counting its brackets
    settles almost every text at C speed; only one with more than the limit in all is scanned."""
    if text.count(b"[") + text.count(b"{") <= MAX_JSON_DEPTH:
        return
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ValidationFailed(
            f"{what} nests {depth} levels deep; at most {MAX_JSON_DEPTH} are accepted"
        )
