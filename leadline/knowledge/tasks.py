"""Knowledge jobs: the embeddings of an article's chunks, computed after the save commits."""

from __future__ import annotations

from typing import Any

from leadline.jobs.registry import JobContext, RetryLater, task
from leadline.knowledge import service as knowledge
from leadline.knowledge.embeddings import EmbeddingsFailed, provider_of


@task(knowledge.EMBED, max_attempts=8)
async def embed_article(context: JobContext, payload: dict[str, Any]) -> None:
    """Queued when an article's chunks are made (a provider being configured)."""
    provider = provider_of(context.settings)
    if provider is None or context.workspace_id is None:
        return  # configured away since: search is lexical
    async with context.db.transaction() as session:
        try:
            await knowledge.embed_article(
                session, context.workspace_id, str(payload["article_id"]), provider, context.http
            )
        except EmbeddingsFailed as exc:
            raise RetryLater(60.0 * context.attempt, str(exc)) from None
