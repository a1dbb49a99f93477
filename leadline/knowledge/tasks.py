"""Knowledge jobs: the embeddings of an article's chunks, computed after the save commits."""

from __future__ import annotations

from typing import Any

from leadline.jobs.registry import JobContext, RetryLater, task
from leadline.knowledge import service as knowledge
from leadline.knowledge.embeddings import EmbeddingsFailed


@task(knowledge.EMBED, max_attempts=8)
async def embed_article(context: JobContext, payload: dict[str, Any]) -> None:
    """Queued when an article's chunks are made (a provider being configured)."""
    if context.workspace_id is None:
        return
    async with context.db.transaction() as session:
        provider = await knowledge.provider_for(session, context.settings, context.workspace_id)
    if provider is None:
        return  # configured away since: search is lexical
    async with context.db.transaction() as session:
        try:
            await knowledge.embed_article(
                session, context.workspace_id, str(payload["article_id"]), provider, context.http
            )
        except EmbeddingsFailed as exc:
            raise RetryLater(60.0 * context.attempt, str(exc)) from None


@task(knowledge.REEMBED, max_attempts=8)
async def reembed(context: JobContext, payload: dict[str, Any]) -> None:
    """Queued when the model a workspace's search uses changes: every chunk's vector again,
    an article per transaction, the progress recorded after each. A later change of model
    makes this one stop (its own job does the work)."""
    workspace_id = context.workspace_id
    model = str(payload.get("model", ""))
    if workspace_id is None:
        return
    async with context.db.transaction() as session:
        current = await knowledge.provider_for(session, context.settings, workspace_id)
        if current is None or current.model != model:
            return
        await knowledge.reembed_progress(session, workspace_id, model, state=knowledge.RUNNING)
        articles = await knowledge.reembed_articles(session, workspace_id)
    for article_id in articles:
        try:
            async with context.db.transaction() as session:
                current = await knowledge.provider_for(session, context.settings, workspace_id)
                if current is None or current.model != model:
                    return  # superseded
                await knowledge.embed_article(
                    session, workspace_id, article_id, current, context.http
                )
                await knowledge.reembed_progress(
                    session, workspace_id, model, state=knowledge.RUNNING
                )
        except EmbeddingsFailed as exc:
            final = context.attempt >= context.max_attempts
            async with context.db.transaction() as session:
                await knowledge.reembed_progress(
                    session,
                    workspace_id,
                    model,
                    state=knowledge.FAILED if final else knowledge.RUNNING,
                    error=str(exc),
                )
            raise RetryLater(60.0 * context.attempt, str(exc)) from None
    async with context.db.transaction() as session:
        await knowledge.reembed_progress(session, workspace_id, model, state=knowledge.DONE)
