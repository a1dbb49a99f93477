"""The process's log: every line, structlog's and the standard library's, in one format.

``LEADLINE_LOG_FORMAT=json`` writes one JSON object per line (for log collectors), ``console``
lines a person reads; the default, ``auto``, writes lines for a person when standard error is a
terminal and JSON otherwise (a container, a service manager, a file). Both carry what is bound
with :func:`structlog.contextvars.bind_contextvars` (the request id, while a request is served).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

import structlog
from structlog.typing import Processor

from leadline.config import Settings

REQUEST_LOGGER = "leadline.requests"

# Every line gets these, whichever library wrote it.
_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def json_lines(settings: Settings) -> bool:
    """Whether the log is written as JSON (see the module's docstring)."""
    if settings.log_format == "auto":
        try:
            return not sys.stderr.isatty()
        except (AttributeError, ValueError):  # no stream, or a closed one
            return True
    return settings.log_format == "json"


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to the ``sys.stderr`` of the moment rather than the one it was made with, so a
    stream swapped in later (a test's capture, a command runner's) gets the lines, and a closed
    one is never written to."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging(settings: Settings) -> None:
    """Route structlog through the standard library's root logger, rendered by structlog.

    Safe to call again (each app made in a process calls it): the handler it installed before
    is replaced, and handlers others installed (a test's log capture) are left alone.
    """
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    renderer: Processor
    if json_lines(settings):
        renderer = structlog.processors.JSONRenderer()
        tail: list[Processor] = [structlog.processors.format_exc_info, renderer]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        tail = [renderer]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
    )
    root = logging.getLogger()
    for handler in root.handlers[:]:
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request it sends, full URL included, at info; the URLs of webhook and
    # CRM receivers often carry their secret, so those lines stay out of the log.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    # aiosqlite logs every statement with its parameters (emails, phone numbers) at debug:
    # even a debugging log keeps personal data out.
    logging.getLogger("aiosqlite").setLevel(max(level, logging.INFO))
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        # Below the level a call returns at once, before any processor runs.
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )


class RequestLines:
    """The one line per answered request, written straight to standard error in the format
    of every other line. Through structlog and the standard library's handler the line cost
    about 40 us, as much as a whole request to a route that does nothing; this costs a few.
    A terminal (colours) still goes the general way, as do levels above info (no line)."""

    def __init__(self, settings: Settings) -> None:
        level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
        self.enabled = level <= logging.INFO
        self.json = json_lines(settings)
        self._general = structlog.stdlib.get_logger(REQUEST_LOGGER)

    def write(
        self,
        method: str,
        route: str,
        status: int,
        duration_ms: float,
        rid: str,
        key_prefix: str | None = None,
    ) -> None:
        """``route`` is the template of the route that answered (``/api/leads/{lead_id}``),
        never the request's path: a path can carry personal data (an email address in place
        of an id) and a query string a key."""
        if not self.enabled:
            return
        stream = sys.stderr
        if not self.json and stream.isatty():
            self._general.info(
                "request",
                method=method,
                route=route,
                status=status,
                duration_ms=duration_ms,
                key_prefix=key_prefix,
            )
            return
        stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        if self.json:
            line = json.dumps(
                {
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": duration_ms,
                    "key_prefix": key_prefix,
                    "event": "request",
                    "request_id": rid,
                    "level": "info",
                    "logger": REQUEST_LOGGER,
                    "timestamp": stamp,
                }
            )
        else:
            shown = route if route.isprintable() else repr(route)
            line = (
                f"{stamp} [info     ] request                        [{REQUEST_LOGGER}] "
                f"duration_ms={duration_ms} key_prefix={key_prefix} method={method} "
                f"request_id={rid} route={shown} status={status}"
            )
        # A closed or broken stream loses the line, never the answer.
        with contextlib.suppress(OSError, ValueError):
            stream.write(line + "\n")
