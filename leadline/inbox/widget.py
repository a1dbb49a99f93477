"""The chat widget's rules (/widget.js and its public endpoints, docs/widget.md).

A visitor holds a token naming their contact: ``<contact id>.<signature>``, signed with the
instance's secret key, so that nothing is stored for it. The token reads and writes only that
contact's conversations and their messages (never notes, which are not messages). A widget
contact is always a new contact: an email typed into the widget never opens an existing
contact's conversations; it becomes a lead as any chat email does.

``leadiosa.identify`` names the person a site knows: the same ``id`` later finds the same contact
again. With verification on (``workspaces.widget_identity_verification``) the call must carry
``hash``, the HMAC-SHA256 of the id keyed with the workspace's identity secret. That secret is
derived from the instance's secret key and the workspace id, so it is never stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.auth.roles import Role
from leadline.auth.service import Principal
from leadline.db import Database
from leadline.errors import Forbidden, NotFound, ValidationFailed, WorkspaceClosed
from leadline.inbox import contacts
from leadline.inbox import messages as inbox_messages
from leadline.inbox import service as inbox
from leadline.inbox.repository import InboxRepository
from leadline.inbox.schemas import Author, ContactFields
from leadline.kit.changes import PRINCIPALS, SITES, ChangeBus
from leadline.kit.ids import new_id
from leadline.kit.readcache import ReadCache
from leadline.kit.time import iso_millis, utcnow
from leadline.live import LiveEvent
from leadline.models import Contact, Conversation, Message, Workspace
from leadline.people import service as people
from leadline.sites import service as sites
from leadline.webhooks import service as webhooks
from leadline.workspaces import service as workspaces

# What the audit log names for what the widget changes itself (the inbox service names the
# caller as it does for a site's own forms: no key).
WIDGET = Actor.system("widget")
EXTERNAL_ID_LENGTH = 200
MESSAGES_PAGE = 100
OFFLINE_SUBJECT = "Offline message"


class IdentityRefused(Forbidden):
    code = "identity_not_verified"


class OriginRefused(Forbidden):
    code = "origin_not_allowed"


# ------------------------------------------------------------------------------ who and where


def principal_of(workspace: Workspace) -> Principal:
    """The widget acts for the workspace as a site's own form does: no key, the rights of an
    integration key."""
    return Principal(workspace=workspace, key_id="", role=Role.INTEGRATION)


async def workspace_of(session: AsyncSession, ref: str) -> Workspace:
    """The workspace ``data-workspace`` names, by id or by slug; a closed one takes nothing."""
    return open_workspace(ref, await _find_workspace(session, ref))


async def _find_workspace(session: AsyncSession, ref: str) -> Workspace | None:
    if not contacts.usable_id(ref):
        return None
    try:
        return await workspaces.get(session, ref)
    except NotFound:
        try:
            return await workspaces.require(session, ref)
        except NotFound:
            return None


def open_workspace(ref: str, found: Workspace | None) -> Workspace:
    if found is None:
        raise NotFound(f"no workspace {ref[:64]}", resource="workspace")
    if found.status != "active":
        raise WorkspaceClosed("this workspace is closed and takes no chats")
    return found


async def domains_of(session: AsyncSession, workspace_id: str) -> list[str]:
    """Every domain of the workspace's sites: the pages the widget may run on."""
    return [
        row.domain for found in await sites.sites_of(session, workspace_id) for row in found.domains
    ]


def check_page(page_host: str | None, domains: list[str] | tuple[str, ...]) -> None:
    """A page on ``page_host`` may use the widget when a site of the workspace lists it."""
    if not page_host:
        raise OriginRefused("the request has no Origin or Referer naming the page")
    if not sites.host_allowed(page_host, list(domains)):
        raise OriginRefused(f"{page_host} is not one of this workspace's sites' domains")


@dataclass(frozen=True, slots=True)
class WidgetPages:
    """What every widget request checks first: the workspace ``data-workspace`` names (None:
    there is none), and the domains of its sites."""

    workspace: Workspace | None
    domains: tuple[str, ...]

    def check(self, ref: str, page_host: str | None) -> Workspace:
        """The workspace, open, for a page on ``page_host``; else the refusal."""
        workspace = open_workspace(ref, self.workspace)
        check_page(page_host, self.domains)
        return workspace


async def _widget_pages(database: Database, ref: str) -> WidgetPages:
    async with database.transaction() as session:
        found = await _find_workspace(session, ref)
        if found is None:
            return WidgetPages(None, ())
        return WidgetPages(found, tuple(await domains_of(session, found.id)))


class WidgetPagesCache(ReadCache[Database, WidgetPages]):
    """Workspaces with their sites' domains by ``data-workspace``, for the widget's routes
    (kit.readcache): forgotten when sites or domains change (``sites``) and when a workspace
    changes (``principals``: its status, its slug, identity verification)."""

    def __init__(self, bus: ChangeBus | None = None, **options: Any) -> None:
        # ``options``: ReadCache's ttl, short_ttl, size and clock.
        super().__init__(
            _widget_pages, bus, (SITES, PRINCIPALS), what="widget workspace", **options
        )


# ------------------------------------------------------------------------------ secrets


def _mac(secret_key: str, message: str) -> bytes:
    return hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).digest()


def identity_secret(secret_key: str, workspace_id: str, generation: int = 0) -> str:
    """The workspace's identity secret, for the site's server to sign ids with: each rotation
    (``generation``) gives a new one; the first is the one of before rotation existed."""
    suffix = f":{generation}" if generation else ""
    return _mac(secret_key, f"leadline.widget.identity:{workspace_id}{suffix}").hex()


def secret_of_workspace(secret_key: str, workspace: Workspace) -> str:
    """The identity secret ``workspace`` holds now."""
    return identity_secret(secret_key, workspace.id, workspace.widget_identity_generation or 0)


def identity_hash(secret: str, external_id: str) -> str:
    """What ``hash`` must be: the HMAC-SHA256 of the id, lowercase hex."""
    return hmac.new(secret.encode(), external_id.encode(), hashlib.sha256).hexdigest()


def token_for(secret_key: str, workspace_id: str, contact_id: str) -> str:
    signature = _mac(secret_key, f"leadline.widget.token:{workspace_id}:{contact_id}")
    return f"{contact_id}.{base64.urlsafe_b64encode(signature[:18]).decode()}"


def contact_in(secret_key: str, workspace_id: str, token: str) -> str:
    """The contact id a token names; Forbidden for a token this workspace did not give."""
    contact_id, _, _ = token.partition(".")
    if not contacts.usable_id(contact_id) or not hmac.compare_digest(
        token_for(secret_key, workspace_id, contact_id), token
    ):
        raise Forbidden("the widget token is not valid for this workspace")
    return contact_id


# ------------------------------------------------------------------------------ reading


@dataclass(frozen=True, slots=True)
class WidgetConfig:
    online: bool
    identity_verification: bool

    @property
    def offline_form(self) -> bool:
        # Nobody online means the offline form, unless the AI agent answers then (the widget's
        # surface asks the assistant, which this feature may not import).
        return not self.online


async def config(session: AsyncSession, workspace: Workspace) -> WidgetConfig:
    return WidgetConfig(
        online=await people.anyone_online(session, workspace.id),
        identity_verification=workspace.widget_identity_verification,
    )


def public_message(message: Message) -> dict[str, Any]:
    """A message as the visitor sees it: who wrote it (contact, operator or ai), not which
    person."""
    return {
        "id": message.id,
        "seq": message.seq,
        "from": message.author,
        "text": message.text,
        "created_at": iso_millis(message.created_at),
    }


async def _contact(session: AsyncSession, workspace_id: str, contact_id: str) -> Contact:
    found = await InboxRepository(session).contact(workspace_id, contact_id)
    if found is None:
        raise Forbidden("the widget token's contact no longer exists")
    return found


async def _own_conversation(
    session: AsyncSession, workspace_id: str, contact_id: str, conversation_id: str
) -> Conversation:
    found = (
        await InboxRepository(session).conversation(workspace_id, conversation_id)
        if contacts.usable_id(conversation_id)
        else None
    )
    if found is None or found.contact_id != contact_id:
        raise NotFound(f"no conversation {conversation_id[:64]}", resource="conversation")
    return found


async def messages(
    session: AsyncSession,
    workspace: Workspace,
    contact_id: str,
    conversation_id: str,
    *,
    after: int | None,
) -> list[Message]:
    """The contact's conversation's messages after seq ``after``, oldest first."""
    await _own_conversation(session, workspace.id, contact_id, conversation_id)
    page = await inbox_messages.list_messages(
        session,
        principal_of(workspace),
        conversation_id,
        limit=MESSAGES_PAGE,
        after_seq=after,
    )
    return page.messages


async def latest_conversation(
    session: AsyncSession, workspace_id: str, contact_id: str
) -> Conversation | None:
    return await InboxRepository(session).latest_conversation_of(workspace_id, contact_id)


# ------------------------------------------------------------------------------ writing


async def _new_contact(
    session: AsyncSession,
    workspace: Workspace,
    *,
    name: str | None,
    email: str | None,
    external_id: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Contact:
    now = utcnow()
    contact = Contact(
        id=new_id("ct"),
        workspace_id=workspace.id,
        name=name,
        email=email,
        phone=None,
        external_id=external_id,
        attributes=contacts._encode_attributes(attributes or {}),
        spam=False,
        created_at=now,
        updated_at=now,
    )
    await InboxRepository(session).add(contact)
    await audit.record_many(
        session,
        workspace.id,
        WIDGET,
        [
            audit.Entry(
                "contact.created",
                "contact",
                contact.id,
                {
                    field: (None, audit.REDACTED)
                    for field, value in (("name", name), ("email", email))
                    if value
                },
            )
        ],
    )
    await webhooks.emit(session, workspace.id, "contact.created", contacts.event_data(contact))
    return contact


@dataclass(frozen=True, slots=True)
class Started:
    contact_id: str
    conversation: Conversation
    message: Message


async def start(
    session: AsyncSession,
    workspace: Workspace,
    *,
    contact_id: str | None,
    text: str,
    name: str | None = None,
    email: str | None = None,
    visit_id: str | None = None,
    offline: bool = False,
) -> Started:
    """A new conversation of the token's contact, or of a new contact with ``name`` and
    ``email`` (the offline form asks for both). Its first message is ``text``; the visit, when
    the tracker shares it, gives the lead its attribution."""
    name = contacts.normalise_name(name) if name is not None else None
    email = contacts.normalise_email(email) if email is not None else None
    if offline and email is None:
        raise ValidationFailed(
            "the offline form needs an email to answer to", details={"field": "email"}
        )
    if contact_id is not None:
        contact = await _contact(session, workspace.id, contact_id)
        if email is not None and contact.email is None:
            contact.email = email
        if name is not None and contact.name is None:
            contact.name = name
    else:
        contact = await _new_contact(session, workspace, name=name, email=email)
    created = await inbox.start_conversation(
        session,
        principal_of(workspace),
        contact=ContactFields(id=contact.id),
        text=text,
        subject=OFFLINE_SUBJECT if offline else None,
        visit_id=visit_id,
    )
    return Started(contact.id, created.conversation, created.message)


async def send(
    session: AsyncSession, workspace: Workspace, contact_id: str, conversation_id: str, text: str
) -> Message:
    """The visitor's next message in their conversation."""
    await _own_conversation(session, workspace.id, contact_id, conversation_id)
    return await inbox_messages.post_message(
        session, principal_of(workspace), conversation_id, text=text, author=Author.CONTACT.value
    )


async def typing(
    session: AsyncSession, workspace: Workspace, contact_id: str, conversation_id: str, typing: bool
) -> None:
    """The visitor is typing in their conversation (or stopped): told to its streams."""
    await _own_conversation(session, workspace.id, contact_id, conversation_id)
    await inbox_messages.typing(
        session, principal_of(workspace), conversation_id, author=Author.CONTACT, typing=typing
    )


async def own_conversation(
    session: AsyncSession, workspace: Workspace, contact_id: str, conversation_id: str
) -> Conversation:
    """The contact's conversation; NotFound for any other."""
    return await _own_conversation(session, workspace.id, contact_id, conversation_id)


def public_event(item: LiveEvent) -> LiveEvent:
    """A live event as the visitor may see it: a message as ``public_message`` writes it,
    typing without which person."""
    keep: tuple[str, ...]
    if item.kind == "message.created":
        keep = ("id", "seq", "from", "text", "created_at")
    elif item.kind == "typing":
        keep = ("conversation_id", "from", "typing")
    else:
        keep = ()
    return LiveEvent(kind=item.kind, id=item.id, data={k: item.data.get(k) for k in keep})


@dataclass(frozen=True, slots=True)
class Identity:
    id: str
    email: str | None = None
    name: str | None = None
    attributes: Any = None
    hash: str | None = None


def check_identity(secret_key: str, workspace: Workspace, given: Identity) -> str:
    external_id = given.id.strip() if isinstance(given.id, str) else ""
    if not external_id or len(external_id) > EXTERNAL_ID_LENGTH or "\x00" in external_id:
        raise ValidationFailed(
            f"id must be text of 1 to {EXTERNAL_ID_LENGTH} characters", details={"field": "id"}
        )
    if workspace.widget_identity_verification:
        expected = identity_hash(secret_of_workspace(secret_key, workspace), external_id)
        given_hash = given.hash.strip().lower() if isinstance(given.hash, str) else ""
        if not given_hash or not hmac.compare_digest(expected, given_hash):
            raise IdentityRefused(
                "this workspace verifies identities: hash must be the HMAC-SHA256 of id with"
                " the workspace's identity secret",
                details={"field": "hash"},
            )
    return external_id


async def identify(
    session: AsyncSession,
    workspace: Workspace,
    secret_key: str,
    *,
    contact_id: str | None,
    given: Identity,
) -> Contact:
    """The contact the site's ``id`` names: the one identified with it before, else the
    token's contact (not yet identified as anyone), else a new one. It takes the email, name
    and attributes given; ``contact.identified`` is sent."""
    external_id = check_identity(secret_key, workspace, given)
    email = contacts.normalise_email(given.email) if given.email is not None else None
    name = contacts.normalise_name(given.name) if given.name is not None else None
    attributes = (
        contacts.check_attributes(given.attributes) if given.attributes is not None else None
    )
    repo = InboxRepository(session)
    contact = await repo.contact_by_external_id(workspace.id, external_id)
    if contact is None and contact_id is not None:
        current = await repo.contact(workspace.id, contact_id)
        if current is not None and current.external_id is None:
            contact = current
    if contact is None:
        contact = await _new_contact(
            session,
            workspace,
            name=name,
            email=email,
            external_id=external_id,
            attributes=attributes,
        )
    else:
        before = contacts._fields_of(contact)
        contact.external_id = external_id
        if email is not None:
            contact.email = email
        if name is not None:
            contact.name = name
        if attributes is not None:
            contact.attributes = contacts._encode_attributes(
                {**contacts.attributes_of(contact), **attributes}
            )
        changes = contacts.changes_between(before, contacts._fields_of(contact))
        if changes:
            contact.updated_at = utcnow()
            await audit.record_many(
                session,
                workspace.id,
                WIDGET,
                [audit.Entry("contact.updated", "contact", contact.id, changes)],
            )
    if contact.email is not None:
        visit_id = await repo.latest_visit_of(workspace.id, contact.id)
        await contacts.give_lead(session, principal_of(workspace), contact, visit_id=visit_id)
    await webhooks.emit(
        session,
        workspace.id,
        "contact.identified",
        {
            **contacts.event_data(contact),
            "external_id": external_id,
            "attributes": contacts.attributes_of(contact),
            "verified": workspace.widget_identity_verification,
            "identified_at": iso_millis(utcnow()),
        },
    )
    return contact


async def secret_of(session: AsyncSession, workspace_slug: str, configured: str | None) -> str:
    """The identity secret of the workspace with ``workspace_slug`` (for the CLI)."""
    workspace = await workspaces.require(session, workspace_slug)
    secret_key = await workspaces.ensure_secret_key(session, configured)
    return secret_of_workspace(secret_key, workspace)


async def rotate_secret(
    session: AsyncSession, workspace_slug: str, configured: str | None, actor: Actor
) -> str:
    """Give the workspace a new identity secret and return it: ``hash`` made with the old one
    is refused from now on (when verification is on). Audited as ``workspace.updated``."""
    workspace = await workspaces.update_workspace(
        session, workspace_slug, rotate_widget_identity=True, actor=actor
    )
    secret_key = await workspaces.ensure_secret_key(session, configured)
    return secret_of_workspace(secret_key, workspace)


async def set_verification(
    session: AsyncSession, workspace_slug: str, on: bool, actor: Actor
) -> Workspace:
    """Turn identity verification on or off; audited as ``workspace.updated``."""
    return await workspaces.update_workspace(
        session, workspace_slug, widget_identity_verification=on, actor=actor
    )
