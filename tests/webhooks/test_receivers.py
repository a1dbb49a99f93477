"""What a worker keeps of its receivers: a client per checked target, and no connection past
its keep-alive."""

from __future__ import annotations

import asyncio

import pytest

from leadline.webhooks import http1, receivers
from leadline.webhooks.receivers import Receivers
from leadline.webhooks.safety import Target
from tests.fixtures.receiver import receiver


def test_a_client_per_checked_target() -> None:
    def target(*addresses: str) -> Target:
        return Target("https://hooks.example.test/in", "hooks.example.test", 443, addresses)

    async def main() -> None:
        kept = Receivers(2)
        async with (
            kept.hold(target("192.0.2.1", "192.0.2.2")) as first,
            kept.hold(target("192.0.2.2", "192.0.2.1")) as reordered,
            kept.hold(target("192.0.2.3")) as elsewhere,
        ):
            assert first is reordered  # the same addresses, answered in another order
            assert first is not elsewhere  # a name that now points elsewhere: a new client
        await kept.aclose()

    asyncio.run(main())


def test_connections_past_their_keep_alive_are_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receivers, "SWEEP_EVERY", 0.0)
    with receiver(keep_alive=True) as local:
        port = int(local.url.rsplit(":", 1)[1].split("/", 1)[0])
        target = Target(local.url, "127.0.0.1", port, ("127.0.0.1",))

        async def main() -> None:
            kept = Receivers(2)
            async with kept.hold(target) as client:
                assert (await client.post({}, b"{}")).status == 200
                assert len(client.idle) == 1
            monkeypatch.setattr(http1, "KEEPALIVE_SECONDS", 0.0)
            async with kept.hold(target) as again:
                assert again is client
                assert client.idle == []  # closed by the sweep, not handed out
            await kept.aclose()

        asyncio.run(main())
