"""The Settings pages: keys, marketing keys, tokens, people and invites, sites and their
snippets, forms, webhooks, IP lists, consent and retention."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
