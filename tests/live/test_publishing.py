"""What the features publish, and only once their transaction commits."""

from __future__ import annotations

import asyncio

import pytest

from leadline import live
from leadline.auth.roles import Role
from leadline.auth.service import Principal
from leadline.config import Settings
from leadline.db import Database
from leadline.people import service as people
from leadline.workspaces import service as workspaces
from tests.fixtures.inbox import make_person

WAIT = 5.0


class Refused(Exception):
    pass


def test_presence_is_published_on_the_workspace_topic_once_committed(settings: Settings) -> None:
    member = make_person(settings, "ada@example.com", availability="offline")

    async def scenario() -> None:
        db = Database(settings)
        hub = live.configure(None)
        try:
            async with db.transaction() as session:
                workspace, _ = await workspaces.get_or_create(session, "acme")
            principal = Principal(workspace=workspace, key_id="", role=Role.ADMIN)
            sub = hub.subscribe(live.workspace_topic(workspace.id))

            async def refused() -> None:
                async with db.transaction() as session:
                    await people.update(session, principal, member.id, availability="online")
                    raise Refused

            with pytest.raises(Refused):
                await refused()
            assert not sub.items  # rolled back: told no one
            async with db.transaction() as session:
                await people.update(session, principal, member.id, availability="online")
                assert not sub.items  # not before the commit
            told = await sub.next(WAIT)
            assert told is not None
            assert told.kind == "presence"
            assert told.id is None
            assert told.data["person_id"] == member.id
            assert told.data["online"] is True
            async with db.transaction() as session:  # online to away: offline for the inbox
                await people.update(session, principal, member.id, availability="away")
            told = await sub.next(WAIT)
            assert told is not None
            assert told.data["availability"] == "away"
            assert told.data["online"] is False
        finally:
            await hub.close()
            await db.dispose()

    asyncio.run(scenario())
