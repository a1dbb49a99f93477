"""The assistant's pure rules: asking for a person, and reading a provider's answer."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from leadline.assistant import provider
from leadline.assistant.secrets import seal, unseal
from leadline.assistant.service import asks_for_person


@pytest.mark.parametrize(
    "text",
    [
        "Can I talk to a human?",
        "I want a real person please",
        "Bitte einen Mitarbeiter",
        "Je veux parler à un conseiller",
        "Quiero hablar con una persona",
        "Posso parlare con un operatore?",
        "Mag ik een medewerker spreken",
    ],
)
def test_asking_for_a_person(text: str) -> None:
    assert asks_for_person(text)


@pytest.mark.parametrize("text", ["How long do refunds take?", "Is it humane?", "Agents Ltd?"])
def test_not_asking_for_a_person(text: str) -> None:
    assert not asks_for_person(text)


def _answer(status: int, body: Any) -> provider.Completion:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        assert request.headers["authorization"] == "Bearer k"
        return httpx.Response(status, json=body)

    async def run() -> provider.Completion:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            return await provider.complete(
                http, "http://model.test/v1/", "m", "k", [{"role": "user", "content": "hi"}]
            )

    return asyncio.run(run())


def test_a_completion_and_its_tokens() -> None:
    done = _answer(
        200,
        {
            "choices": [{"message": {"role": "assistant", "content": " Hello "}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3},
        },
    )
    assert done == provider.Completion("Hello", 10)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"error": "down"}),
        (200, {"choices": []}),
        (200, {"choices": [{"message": {"content": ""}}]}),
        (200, ["not", "an", "object"]),
    ],
)
def test_unusable_answers_fail(status: int, body: Any) -> None:
    with pytest.raises(provider.ProviderFailed):
        _answer(status, body)


def test_the_key_is_sealed() -> None:
    sealed = seal("instance-secret", "sk-123")
    assert "sk-123" not in sealed
    assert unseal("instance-secret", sealed) == "sk-123"
    assert unseal("another-secret", sealed) == ""
    assert seal("instance-secret", "") == ""
