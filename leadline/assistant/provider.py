"""The chat model: any OpenAI-compatible ``POST {base_url}/chat/completions``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

TIMEOUT = 30.0


class ProviderFailed(Exception):
    """The provider could not be reached, refused, or answered something unusable."""


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    tokens: int


def endpoint(base_url: str) -> str:
    """The base URL ends in ``/v1`` (as OpenAI's does)."""
    return base_url.rstrip("/") + "/chat/completions"


async def complete(
    http: httpx.AsyncClient,
    base_url: str,
    model: str,
    key: str,
    messages: list[dict[str, str]],
) -> Completion:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = await http.post(
            endpoint(base_url),
            json={"model": model, "messages": messages, "temperature": 0.2},
            headers=headers,
            timeout=TIMEOUT,
        )
    except httpx.HTTPError as exc:
        raise ProviderFailed(f"the provider could not be reached: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise ProviderFailed(f"the provider answered {response.status_code}")
    try:
        body: Any = response.json()
        text = body["choices"][0]["message"]["content"]
        usage = body.get("usage") or {}
        tokens = int(usage.get("total_tokens") or 0) or int(usage.get("prompt_tokens") or 0) + int(
            usage.get("completion_tokens") or 0
        )
    except (ValueError, KeyError, IndexError, TypeError):
        raise ProviderFailed("the provider's answer is not a chat completion") from None
    if not isinstance(text, str) or not text.strip():
        raise ProviderFailed("the provider's answer is empty")
    return Completion(text.strip(), max(tokens, 0))
