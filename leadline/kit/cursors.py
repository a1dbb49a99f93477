"""Opaque cursors for keyset pagination: ``cur_`` and the base64url of the last item's sort key.

A list ordered by a unique key continues after the key of the last item it returned, so items
added meanwhile never shift the pages that follow (as an offset would).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from leadline.errors import InvalidCursor
from leadline.kit.time import iso_micros, parse_datetime

T = TypeVar("T")
K = TypeVar("K")

PREFIX = "cur_"
# Sort keys are a few short values; anything longer was not made here.
MAX_LENGTH = 512
_BODY = re.compile(r"[A-Za-z0-9_-]+")
# Largest value a BIGINT column holds: a bigger one would fail in the database, not here.
_MAX_INT = 2**63 - 1
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def cut(rows: Sequence[T], limit: int) -> tuple[list[T], bool]:
    """A page read as ``limit + 1`` rows: the first ``limit``, and whether more follow."""
    return list(rows[:limit]), len(rows) > limit


def encode(key: Mapping[str, Any]) -> str:
    """The cursor for a sort key of JSON values (use :func:`iso_micros` for times)."""
    raw = json.dumps(key, sort_keys=True, separators=(",", ":")).encode()
    return PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(cursor: str, read: Callable[[dict[str, Any]], K], *, parameter: str = "after") -> K:
    """The sort key in ``cursor``, built by ``read`` from the decoded object.

    Anything that is not a cursor this module made, or whose content ``read`` refuses (with
    KeyError, TypeError or ValueError), is a 400 ``invalid_cursor`` naming ``parameter``.
    """
    body = cursor[len(PREFIX) :]
    if not cursor.startswith(PREFIX) or len(cursor) > MAX_LENGTH or not _BODY.fullmatch(body):
        raise _invalid(parameter)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        raise _invalid(parameter) from None
    if not isinstance(decoded, dict):
        raise _invalid(parameter)
    try:
        return read(decoded)
    except (KeyError, TypeError, ValueError):
        raise _invalid(parameter) from None


def resume(
    cursor: str | None, read: Callable[[dict[str, Any]], K], *, parameter: str = "after"
) -> K | None:
    """Where a list continues: the sort key in ``cursor``, or None for the first page.

    An empty ``after=`` is the first page, as an absent one is: clients that build the query
    from a variable holding "no cursor yet" send it empty, and the document allows it.
    """
    return decode(cursor, read, parameter=parameter) if cursor else None


def _invalid(parameter: str) -> InvalidCursor:
    return InvalidCursor(
        f"{parameter} is not a cursor this API returned; pass next_cursor verbatim",
        details={"parameter": parameter},
    )


# ------------------------------------------------------------------- reading key values


def integer(value: Any) -> int:
    """A non-negative integer that fits a BIGINT column."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_INT:
        raise ValueError("not a key integer")
    return value


def timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError("not a timestamp")
    return parse_datetime(value)


def identifier(value: Any) -> str:
    """An id as Leadline makes them: letters, digits, ``_`` and ``-``."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError("not an id")
    return value


def time_key(value: datetime) -> str:
    """A time as it goes into a cursor: every microsecond the database keeps."""
    return iso_micros(value)


# ---------------------------------------------------------------------------------- pages


@dataclass(frozen=True)
class CursorPage(Generic[T]):
    items: list[T]
    next_cursor: str | None  # None on the last page

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def page(
    items: Sequence[T], *, has_more: bool, key: Callable[[T], Mapping[str, Any]]
) -> CursorPage[T]:
    """A page of ``items`` in list order; the next page continues after the last one."""
    next_cursor = encode(key(items[-1])) if has_more and items else None
    return CursorPage(items=list(items), next_cursor=next_cursor)
