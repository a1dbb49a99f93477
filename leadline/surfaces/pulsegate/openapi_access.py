"""The OpenAPI paths and schemas of the access analytics routes (see openapi.py)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def paths() -> dict[str, Schema]:
    return {}


def components() -> dict[str, Schema]:
    return {}
