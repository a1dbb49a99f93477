"""The ``field[op]=value`` query syntax shared by list endpoints."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from leadline.errors import InvalidFilter


class Op(StrEnum):
    EQ = "eq"
    GTE = "gte"
    GT = "gt"
    LTE = "lte"
    LT = "lt"
    EXISTS = "exists"


@dataclass(frozen=True)
class Condition:
    field: str
    op: Op
    value: str


_KEY = re.compile(r"^(?P<field>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<op>[A-Za-z]*)\])?$")


def parse_key(key: str) -> tuple[str, Op]:
    """``createdAt[gte]`` -> (``createdAt``, GTE); a bare name means equality."""
    match = _KEY.match(key)
    if not match:
        raise InvalidFilter(f"malformed filter parameter '{key}'", details={"parameter": key})
    raw_op = match.group("op")
    if raw_op is None:
        return match.group("field"), Op.EQ
    try:
        op = Op(raw_op.lower())
    except ValueError:
        allowed = ", ".join(f"[{o.value}]" for o in Op if o is not Op.EQ)
        raise InvalidFilter(
            f"unknown filter operator '[{raw_op}]' in '{key}'; use one of {allowed}",
            details={"parameter": key},
        ) from None
    if op is Op.EQ:
        raise InvalidFilter(
            f"write '{match.group('field')}=value' for equality, not '{key}'",
            details={"parameter": key},
        )
    return match.group("field"), op


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise ValueError(text)
