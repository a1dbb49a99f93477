"""The process's log: every line, structlog's and the standard library's, in one format.

``LEADLINE_LOG_FORMAT=json`` writes one JSON object per line (for log collectors); the default
writes lines a person reads in a terminal. Both carry what is bound with
:func:`structlog.contextvars.bind_contextvars` (the request id, while a request is served).
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
    if settings.log_format == "json":
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
        self.json = settings.log_format == "json"
        self._general = structlog.stdlib.get_logger(REQUEST_LOGGER)

    def write(self, method: str, path: str, status: int, duration_ms: float, rid: str) -> None:
        if not self.enabled:
            return
        stream = sys.stderr
        if not self.json and stream.isatty():
            self._general.info(
                "request", method=method, path=path, status=status, duration_ms=duration_ms
            )
            return
        stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        if self.json:
            line = json.dumps(
                {
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": duration_ms,
                    "event": "request",
                    "request_id": rid,
                    "level": "info",
                    "logger": REQUEST_LOGGER,
                    "timestamp": stamp,
                }
            )
        else:
            shown = path if path.isprintable() else repr(path)
            line = (
                f"{stamp} [info     ] request                        [{REQUEST_LOGGER}] "
                f"duration_ms={duration_ms} method={method} path={shown} request_id={rid} "
                f"status={status}"
            )
        # A closed or broken stream loses the line, never the answer.
        with contextlib.suppress(OSError, ValueError):
            stream.write(line + "\n")
