"""The Inbox pages: conversations by status and assignee, a thread with its reply box and
notes, and new messages as they arrive."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
