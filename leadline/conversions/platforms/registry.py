"""The adapters by platform name: each platform's module (``leadline.conversions.platforms.
<name>``, named as in PLATFORM_NAMES) defines ``PLATFORM``, an instance of its adapter.

:func:`use` adds an adapter that has no module here (tests register one that talks to a local
server; an instance may plug in its own); :func:`forget` takes it away again."""

from __future__ import annotations

import importlib
from functools import cache

from leadline.conversions.platforms.base import PLATFORM_NAMES, Platform

_used: dict[str, Platform] = {}


@cache
def _modules() -> dict[str, Platform]:
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


def adapters() -> dict[str, Platform]:
    """Every platform whose module exists, and those added by :func:`use`, by name."""
    return {**_modules(), **_used}


def adapter(name: str) -> Platform:
    """The adapter of platform ``name``; KeyError when there is none."""
    return adapters()[name]


def use(platform: Platform) -> None:
    """Make ``platform`` the adapter of its name, beside (or instead of) the modules' own."""
    _used[platform.name] = platform


def forget(name: str) -> None:
    """Undo :func:`use` for ``name``."""
    _used.pop(name, None)
