"""PulseGate's ``GET /health``: ``{"status": "ok", "timestamp": <epoch ms>}`` while the database
answers, 503 with the reason when it does not. See docs/api/health.md."""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadline import __version__
from leadline.db import Database
from leadline.surfaces.pulsegate.envelope import json_answer

log = logging.getLogger(__name__)

# Load balancers and uptime monitors give up after a few seconds; a database that hangs must be
# reported as down before they do, not leave the probe waiting for a connection forever.
DATABASE_TIMEOUT_SECONDS = 2.0

# A probe's answer is about this moment: no cache may hold it.
_NO_STORE = {"Cache-Control": "no-store"}


def _now_millis() -> int:
    return time.time_ns() // 1_000_000


async def _database_problem(database: Database) -> str | None:
    """Why the database cannot serve requests now, or None when it can."""
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
            await database.ping()
    except TimeoutError:
        return f"database did not answer within {DATABASE_TIMEOUT_SECONDS:g} s"
    except Exception as exc:
        # The driver's message can name hosts and users: the log keeps it, the public answer
        # only says what failed. One line, no traceback: monitors probe every few seconds, and
        # rendering a traceback each time costs more than the probe.
        log.warning("health: database unreachable: %s", exc)
        return "database unreachable"
    return None


async def health(request: Request) -> Response:
    problem = await _database_problem(request.state.db)
    if problem is not None:
        return json_answer(
            {"status": "unavailable", "timestamp": _now_millis(), "error": problem},
            503,
            _NO_STORE,
        )
    return json_answer(
        {"status": "ok", "timestamp": _now_millis(), "version": __version__}, 200, _NO_STORE
    )


HEALTH_ROUTES = [Route("/health", health, methods=["GET"])]
