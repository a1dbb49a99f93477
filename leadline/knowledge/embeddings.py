"""Embeddings from an OpenAI-compatible provider (``POST {base}/embeddings``)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import httpx

from leadline.config import Settings

log = logging.getLogger(__name__)

# Texts sent in one request.
BATCH = 64
TIMEOUT = 30.0


@dataclass(frozen=True)
class Provider:
    url: str  # the base URL; requests go to {url}/embeddings
    model: str
    key: str | None = None

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/embeddings"


def provider_of(settings: Settings) -> Provider | None:
    """The configured provider, or None (lexical search only)."""
    if not settings.embeddings_url or not settings.embeddings_model:
        return None
    return Provider(settings.embeddings_url, settings.embeddings_model, settings.embeddings_key)


class EmbeddingsFailed(Exception):
    """The provider did not answer with an embedding for every text."""


async def embed(http: httpx.AsyncClient, provider: Provider, texts: list[str]) -> list[list[float]]:
    """One vector per text, in order."""
    vectors: list[list[float]] = []
    headers = {"Authorization": f"Bearer {provider.key}"} if provider.key else {}
    for start in range(0, len(texts), BATCH):
        batch = texts[start : start + BATCH]
        try:
            answer = await http.post(
                provider.endpoint,
                json={"model": provider.model, "input": batch},
                headers=headers,
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise EmbeddingsFailed(f"the embeddings provider did not answer: {exc}") from None
        if answer.status_code != 200:
            raise EmbeddingsFailed(f"the embeddings provider answered {answer.status_code}")
        vectors.extend(_vectors(answer, len(batch)))
    return vectors


def _vectors(answer: httpx.Response, count: int) -> list[list[float]]:
    try:
        body: Any = answer.json()
        items = sorted(body["data"], key=lambda item: int(item["index"]))
        vectors = [[float(x) for x in item["embedding"]] for item in items]
    except (KeyError, TypeError, ValueError):
        raise EmbeddingsFailed(
            "the embeddings provider's answer is not in the expected shape"
        ) from None
    if len(vectors) != count:
        raise EmbeddingsFailed(f"the embeddings provider gave {len(vectors)} vectors for {count}")
    return vectors


async def embed_query(http: httpx.AsyncClient, provider: Provider, text: str) -> list[float] | None:
    """The query's vector, or None when the provider fails: search is then lexical only."""
    try:
        return (await embed(http, provider, [text]))[0]
    except EmbeddingsFailed as exc:
        log.warning("knowledge search without embeddings: %s", exc)
        return None


def cosine(a: list[float], b: list[float]) -> float:
    if len(a) != len(b):
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0
