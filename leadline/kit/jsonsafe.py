"""Plain JSON from domain values: one text per value, for hashing and for sending."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from leadline.kit.time import iso_micros


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no whitespace, non-ASCII kept as itself."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types: times as ISO text, amounts as exact decimal text."""
    if isinstance(value, Enum):
        return json_safe(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return iso_micros(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        # 5000, 5000.0 and 5E+3 are one amount: one text for all of them.
        return format(value.normalize(), "f")
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    return str(value)
