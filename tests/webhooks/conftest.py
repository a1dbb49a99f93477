"""What every webhook test shares: settings that reach a local receiver, the receiver, and
retries a test need not wait for."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadline.config import Settings
from leadline.webhooks import service as webhooks
from tests.fixtures.receiver import Receiver, receiver


@pytest.fixture
def hooks(settings: Settings) -> Settings:
    """Settings that let webhooks reach the local receiver, with a quick worker."""
    return Settings(
        database_url=settings.database_url,
        webhooks_allow_private=True,
        webhooks_timeout_seconds=2,
        jobs_poll_seconds=0.05,
    )


@pytest.fixture
def local() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "RETRY_DELAYS", (0.05,) * 7)
