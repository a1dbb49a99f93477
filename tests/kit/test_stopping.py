"""Stopping a background task that swallows its first cancellation, as a Redis client reading
a subscription may."""

from __future__ import annotations

import asyncio

from leadline.kit import stopping


def test_a_task_that_swallows_a_cancellation_is_cancelled_again_until_it_ends() -> None:
    async def scenario() -> None:
        swallowed = 0

        async def stubborn() -> None:
            nonlocal swallowed
            while True:
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    swallowed += 1
                    if swallowed == 3:
                        raise

        task = asyncio.create_task(stubborn())
        await asyncio.sleep(0)
        await stopping.cancel(task, patience=10)
        assert task.cancelled()
        assert swallowed == 3

    asyncio.run(scenario())


def test_a_task_that_does_not_end_is_left_after_the_patience() -> None:
    async def scenario() -> None:
        deaf = True

        async def hard_of_hearing() -> None:
            while True:
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    if not deaf:
                        raise

        task = asyncio.create_task(hard_of_hearing())
        await asyncio.sleep(0)
        await stopping.cancel(task, patience=0.3)
        assert not task.done()
        deaf = False
        await stopping.cancel(task)
        assert task.cancelled()

    asyncio.run(scenario())
