"""The ``leadline`` command: one module per command group, all hung on one root command."""

from __future__ import annotations

import sys

from leadline.cli import (  # noqa: F401  (each module adds its commands to ``app``)
    access,
    analytics,
    conversions,
    doctor,
    jobs,
    leads,
    privacy,
    retention,
    server,
    sites,
    widget,
    workspaces,
)
from leadline.cli._base import app, in_transaction
from leadline.cli.server import _bootstrap

__all__ = ["_bootstrap", "app", "in_transaction", "main"]


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
