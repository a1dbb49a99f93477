"""The adapters by platform name."""

from __future__ import annotations

from leadline.conversions.platforms.base import Platform

REGISTRY: dict[str, Platform] = {}


def register(platform: Platform) -> Platform:
    """Add ``platform`` to the registry (each adapter module calls it once)."""
    REGISTRY[platform.name] = platform
    return platform
