"""Every SQL statement for contacts, conversations, messages and notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, tuple_, update
from sqlalchemy.orm import InstrumentedAttribute

from leadline.db import Repository
from leadline.models import Contact, Conversation, Message, Note, Workspace

# LIKE's wildcards and its escape character, escaped, so a search is for the text as typed.
_LIKE_SPECIAL = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})


def contains(column: InstrumentedAttribute[str | None], text: str) -> ColumnElement[bool]:
    """``column`` holds ``text``, case aside (a substring)."""
    pattern = "%" + text.lower().translate(_LIKE_SPECIAL) + "%"
    return func.lower(column).like(pattern, escape="\\")


# Conversations changed since a time that a list sorts by themselves (see conversations()).
FEW_CHANGED = 500


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    """What a list of conversations is narrowed to; None narrows nothing. ``unassigned``
    lists the conversations nobody is assigned to (``assignee_id`` is then None)."""

    status: str | None = None
    assignee_id: str | None = None
    unassigned: bool = False
    contact_id: str | None = None
    # Changed at or after this time.
    updated_after: datetime | None = None


class InboxRepository(Repository):
    async def add(self, *rows: object) -> None:
        self.session.add_all(rows)
        await self.session.flush()

    # ----------------------------------------------------------------------------- contacts

    async def contact(self, workspace_id: str, contact_id: str) -> Contact | None:
        """The workspace's contact, unless it was merged into another."""
        found: Contact | None = await self.session.scalar(
            select(Contact).where(
                Contact.workspace_id == workspace_id,
                Contact.id == contact_id,
                Contact.merged_into_id.is_(None),
                Contact.erased_at.is_(None),
            )
        )
        return found

    async def contact_by(
        self, workspace_id: str, *, email: str | None = None, phone: str | None = None
    ) -> Contact | None:
        """The oldest contact (not merged) with this email, or else with this phone."""
        query = select(Contact).where(
            Contact.workspace_id == workspace_id,
            Contact.merged_into_id.is_(None),
            Contact.erased_at.is_(None),
        )
        if email is not None:
            query = query.where(Contact.email == email)
        elif phone is not None:
            query = query.where(Contact.phone == phone)
        else:
            return None
        found: Contact | None = await self.session.scalar(
            query.order_by(Contact.created_at, Contact.id).limit(1)
        )
        return found

    async def contact_by_external_id(self, workspace_id: str, external_id: str) -> Contact | None:
        """The oldest contact (not merged, not erased) a site identified with this id."""
        found: Contact | None = await self.session.scalar(
            select(Contact)
            .where(
                Contact.workspace_id == workspace_id,
                Contact.external_id == external_id,
                Contact.merged_into_id.is_(None),
                Contact.erased_at.is_(None),
            )
            .order_by(Contact.created_at, Contact.id)
            .limit(1)
        )
        return found

    async def latest_conversation_of(
        self, workspace_id: str, contact_id: str
    ) -> Conversation | None:
        """The contact's newest conversation."""
        found: Conversation | None = await self.session.scalar(
            select(Conversation)
            .where(
                Conversation.workspace_id == workspace_id,
                Conversation.contact_id == contact_id,
            )
            .order_by(Conversation.created_at.desc(), Conversation.id.desc())
            .limit(1)
        )
        return found

    async def contacts(
        self,
        workspace_id: str,
        *,
        search: str | None,
        updated_after: datetime | None,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[Contact]:
        """Contacts not merged (changed at or after ``updated_after``), most recently updated
        first."""
        query = select(Contact).where(
            Contact.workspace_id == workspace_id,
            Contact.merged_into_id.is_(None),
            Contact.erased_at.is_(None),
        )
        if search:
            query = query.where(
                contains(Contact.name, search)
                | contains(Contact.email, search)
                | contains(Contact.phone, search)
            )
        if updated_after is not None:
            query = query.where(Contact.updated_at >= updated_after)
        if after is not None:
            query = query.where(tuple_(Contact.updated_at, Contact.id) < tuple_(*after))
        query = query.order_by(Contact.updated_at.desc(), Contact.id.desc()).limit(limit)
        return list(await self.session.scalars(query))

    async def merged_into(self, workspace_id: str, contact_id: str) -> list[Contact]:
        """The contacts once merged into ``contact_id`` (whose rows still hold their data)."""
        result = await self.session.scalars(
            select(Contact).where(
                Contact.workspace_id == workspace_id, Contact.merged_into_id == contact_id
            )
        )
        return list(result)

    async def move_conversations(
        self, workspace_id: str, from_contact: str, to_contact: str, now: datetime
    ) -> None:
        await self.session.execute(
            update(Conversation)
            .where(
                Conversation.workspace_id == workspace_id,
                Conversation.contact_id == from_contact,
            )
            .values(contact_id=to_contact, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def latest_visit_of(self, workspace_id: str, contact_id: str) -> str | None:
        """The tracked visit of the contact's latest conversation that started in one."""
        found: str | None = await self.session.scalar(
            select(Conversation.visit_id)
            .where(
                Conversation.workspace_id == workspace_id,
                Conversation.contact_id == contact_id,
                Conversation.visit_id.is_not(None),
            )
            .order_by(Conversation.created_at.desc(), Conversation.id.desc())
            .limit(1)
        )
        return found

    # ------------------------------------------------------------------------ conversations

    async def conversation(
        self, workspace_id: str, conversation_id: str, *, lock: bool = False
    ) -> Conversation | None:
        """The workspace's conversation; with ``lock``, held for this transaction (on
        PostgreSQL) so that messages get their seq, and statuses change, one at a time."""
        query = select(Conversation).where(
            Conversation.workspace_id == workspace_id, Conversation.id == conversation_id
        )
        if lock:
            query = query.with_for_update()
        found: Conversation | None = await self.session.scalar(query)
        return found

    async def conversation_by_id(self, conversation_id: str) -> Conversation | None:
        """Any workspace's conversation, locked: for jobs, which work for every workspace."""
        found: Conversation | None = await self.session.scalar(
            select(Conversation).where(Conversation.id == conversation_id).with_for_update()
        )
        return found

    def _listed(self, workspace_id: str, only: ConversationFilter) -> Select[Any]:
        query = select(Conversation).where(Conversation.workspace_id == workspace_id)
        if only.status is not None:
            query = query.where(Conversation.status == only.status)
        if only.unassigned:
            query = query.where(Conversation.assignee_id.is_(None))
        elif only.assignee_id is not None:
            query = query.where(Conversation.assignee_id == only.assignee_id)
        if only.contact_id is not None:
            query = query.where(Conversation.contact_id == only.contact_id)
        if only.updated_after is not None:
            query = query.where(Conversation.updated_at >= only.updated_after)
        return query

    async def conversations(
        self,
        workspace_id: str,
        only: ConversationFilter,
        *,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[Conversation]:
        """Newest activity first, from where the last page ended (no OFFSET), read in the
        order of the index the filter names: each ends with ``last_activity_at, id``.

        ``updated_after`` has no such index: walking the activity order to test each
        conversation's ``updated_at`` reads the whole workspace when few changed (a sync that
        asks what changed in the last minute). So the changed ones are first looked up in
        ix_conversations_workspace_updated, up to FEW_CHANGED of them; when that is all there
        are, the page is sorted from them alone."""
        query = self._listed(workspace_id, only)
        if only.updated_after is not None:
            changed = await self.session.scalars(
                select(Conversation.id)
                .where(
                    Conversation.workspace_id == workspace_id,
                    Conversation.updated_at >= only.updated_after,
                )
                .limit(FEW_CHANGED + 1)
            )
            ids = list(changed)
            if len(ids) <= FEW_CHANGED:
                query = query.where(Conversation.id.in_(ids))
        if after is not None:
            query = query.where(
                tuple_(Conversation.last_activity_at, Conversation.id) < tuple_(*after)
            )
        query = query.order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
        return list(await self.session.scalars(query.limit(limit)))

    async def reassigning_workspaces(self) -> list[tuple[str, int]]:
        """The workspaces that reassign unanswered conversations, with their limit (minutes)."""
        rows = await self.session.execute(
            select(Workspace.id, Workspace.auto_reassign_minutes).where(
                Workspace.auto_reassign_minutes.is_not(None)
            )
        )
        return [(workspace_id, minutes or 0) for workspace_id, minutes in rows]

    async def overdue(self, workspace_id: str, assigned_before: datetime, limit: int) -> list[str]:
        """Open conversations of the workspace assigned before ``assigned_before`` and not yet
        answered, longest waiting first."""
        rows = await self.session.scalars(
            select(Conversation.id)
            .where(
                Conversation.workspace_id == workspace_id,
                Conversation.status == "open",
                Conversation.assignee_id.is_not(None),
                Conversation.first_reply_at.is_(None),
                Conversation.assigned_at <= assigned_before,
            )
            .order_by(Conversation.assigned_at, Conversation.id)
            .limit(limit)
        )
        return list(rows)

    async def conversations_of_lead(self, workspace_id: str, lead_id: str) -> list[Conversation]:
        """The conversations of the contacts linked to the lead (merged and erased contacts
        left out), newest first."""
        return list(
            await self.session.scalars(
                select(Conversation)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(
                    Contact.workspace_id == workspace_id,
                    Contact.lead_id == lead_id,
                    Contact.merged_into_id.is_(None),
                    Contact.erased_at.is_(None),
                    Conversation.workspace_id == workspace_id,
                )
                .order_by(Conversation.created_at.desc(), Conversation.id.desc())
            )
        )

    async def latest_messages(
        self, workspace_id: str, conversation_ids: list[str], limit: int
    ) -> list[Message]:
        """The newest ``limit`` messages of the conversations, newest first."""
        if not conversation_ids:
            return []
        return list(
            await self.session.scalars(
                select(Message)
                .where(
                    Message.workspace_id == workspace_id,
                    Message.conversation_id.in_(conversation_ids),
                )
                .order_by(Message.created_at.desc(), Message.seq.desc())
                .limit(limit)
            )
        )

    async def count_conversations_since(self, workspace_id: str, since: datetime) -> int:
        # A conversation's activity starts when it is created and only moves on, so the
        # conversations created since ``since`` are among those active since then: a range of
        # ix_conversations_workspace_activity rather than every conversation of the workspace.
        found = await self.session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(
                Conversation.workspace_id == workspace_id,
                Conversation.last_activity_at >= since,
                Conversation.created_at >= since,
            )
        )
        return int(found or 0)

    # ----------------------------------------------------------------------------- messages

    async def messages(
        self, workspace_id: str, conversation_id: str, *, limit: int, after_seq: int | None
    ) -> list[Message]:
        query = select(Message).where(
            Message.conversation_id == conversation_id, Message.workspace_id == workspace_id
        )
        if after_seq is not None:
            query = query.where(Message.seq > after_seq)
        return list(await self.session.scalars(query.order_by(Message.seq).limit(limit)))

    async def message(self, workspace_id: str, message_id: str) -> Message | None:
        found: Message | None = await self.session.scalar(
            select(Message).where(Message.workspace_id == workspace_id, Message.id == message_id)
        )
        return found

    async def count_messages_since(self, workspace_id: str, since: datetime) -> int:
        found = await self.session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.workspace_id == workspace_id, Message.created_at >= since)
        )
        return int(found or 0)

    # -------------------------------------------------------------------------------- notes

    async def notes(
        self,
        workspace_id: str,
        conversation_id: str,
        *,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[Note]:
        query = select(Note).where(
            Note.conversation_id == conversation_id, Note.workspace_id == workspace_id
        )
        if after is not None:
            query = query.where(tuple_(Note.created_at, Note.id) > tuple_(*after))
        query = query.order_by(Note.created_at, Note.id).limit(limit)
        return list(await self.session.scalars(query))
