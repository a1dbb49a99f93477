"""The adapters by platform name: each platform's module (``leadline.conversions.platforms.
<name>``, named as in PLATFORM_NAMES) defines ``PLATFORM``, an instance of its adapter."""

from __future__ import annotations

import importlib
from functools import cache

from leadline.conversions.platforms.base import PLATFORM_NAMES, Platform


@cache
def adapters() -> dict[str, Platform]:
    """Every platform whose module exists, by name."""
    found: dict[str, Platform] = {}
    for name in PLATFORM_NAMES:
        try:
            module = importlib.import_module(f"leadline.conversions.platforms.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"leadline.conversions.platforms.{name}":
                raise
            continue
        platform: Platform = module.PLATFORM
        found[platform.name] = platform
    return found


def adapter(name: str) -> Platform:
    """The adapter of platform ``name``; KeyError when there is none."""
    return adapters()[name]
