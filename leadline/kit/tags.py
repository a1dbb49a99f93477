"""Tags as the inbox's conversations and the knowledge base's articles take them: trimmed, each
once, at most ``TAGS`` of 1 to ``TAG_LENGTH`` characters, stored as a JSON list."""

from __future__ import annotations

import json
from collections.abc import Sequence

from leadline.errors import ValidationFailed

TAG_LENGTH = 50
TAGS = 20


def check_tags(tags: Sequence[str]) -> list[str]:
    """Tags as given, trimmed, each once: at most 20, each 1 to 50 characters."""
    kept: list[str] = []
    for tag in tags:
        text = tag.strip()
        if not text or len(text) > TAG_LENGTH or "\x00" in text:
            raise ValidationFailed(
                f"each tag is 1-{TAG_LENGTH} characters", details={"field": "tags"}
            )
        if text not in kept:
            kept.append(text)
    if len(kept) > TAGS:
        raise ValidationFailed(f"at most {TAGS} tags", details={"field": "tags"})
    return kept


def stored_tags(stored: str | None) -> list[str]:
    """The tags a row keeps as JSON text."""
    found: list[str] = json.loads(stored or "[]")
    return found
