"""Contacts: who the workspace talks to, found or created, changed, merged, and made leads of
when they give an email or phone."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.auth.service import Principal
from leadline.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from leadline.inbox.repository import InboxRepository
from leadline.inbox.schemas import UNSET, ContactChanges, ContactFields, ContactPage
from leadline.kit import cursors
from leadline.kit.ids import new_id
from leadline.kit.time import after_millisecond, iso_millis, utcnow
from leadline.leads import service as leads
from leadline.leads.schemas import LeadCreate, LeadSource
from leadline.models import Contact
from leadline.webhooks import service as webhooks

NAME_LENGTH = 200
EMAIL_LENGTH = 320
PHONE_LENGTH = 40
# A contact's attributes: a flat object of at most this many keys, each key and text value
# bounded, and the whole of it as JSON at most ATTRIBUTES_BYTES.
ATTRIBUTE_KEYS = 50
ATTRIBUTE_KEY_LENGTH = 100
ATTRIBUTE_TEXT_LENGTH = 1000
ATTRIBUTES_BYTES = 16_384

# What the audit log keeps of a contact's personal fields: that they changed, not to what.
PERSONAL = ("name", "email", "phone", "attributes")

# Something shaped like an email address, in a message's text; email-validator decides.
_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def usable_id(value: str) -> bool:
    """Whether ``value`` could be an id this service made: anything else is simply not found
    (and never reaches SQL, which cannot hold a NUL on PostgreSQL)."""
    return 0 < len(value) <= 64 and "\x00" not in value


# ----------------------------------------------------------------------------- checking


def _text(value: str, field: str, longest: int) -> str | None:
    if "\x00" in value:
        raise ValidationFailed(f"{field} must not contain NUL characters", details={"field": field})
    text = value.strip()
    if len(text) > longest:
        raise ValidationFailed(f"{field} is at most {longest} characters", details={"field": field})
    return text or None


def normalise_name(value: str | None) -> str | None:
    return None if value is None else _text(value, "name", NAME_LENGTH)


def normalise_email(value: str | None) -> str | None:
    """The address, checked (without DNS) and lower-cased, as contacts are found by it."""
    text = None if value is None else _text(value, "email", EMAIL_LENGTH)
    return None if text is None else leads.normalise_email(text).lower()


def normalise_phone(value: str | None) -> str | None:
    """The number in E.164 when it parses as a valid one, else as given (trimmed)."""
    text = None if value is None else _text(value, "phone", PHONE_LENGTH)
    return None if text is None else (leads.normalise_phone(text) or text)


def check_attributes(value: Any) -> dict[str, Any]:
    """A flat object of text, numbers, booleans and nulls, within the bounds above."""
    if not isinstance(value, dict):
        raise ValidationFailed("attributes must be an object", details={"field": "attributes"})
    if len(value) > ATTRIBUTE_KEYS:
        raise ValidationFailed(
            f"attributes may have at most {ATTRIBUTE_KEYS} keys", details={"field": "attributes"}
        )
    for key, item in value.items():
        if not isinstance(key, str) or not 0 < len(key) <= ATTRIBUTE_KEY_LENGTH or "\x00" in key:
            raise ValidationFailed(
                f"attribute names are 1-{ATTRIBUTE_KEY_LENGTH} characters",
                details={"field": "attributes"},
            )
        if isinstance(item, str):
            if len(item) > ATTRIBUTE_TEXT_LENGTH or "\x00" in item:
                raise ValidationFailed(
                    f"attributes.{key}: text is at most {ATTRIBUTE_TEXT_LENGTH} characters, "
                    "without NUL",
                    details={"field": f"attributes.{key}"},
                )
        elif item is not None and not isinstance(item, bool | int | float):
            raise ValidationFailed(
                f"attributes.{key} must be text, a number, a boolean or null",
                details={"field": f"attributes.{key}"},
            )
    return dict(value)


def _encode_attributes(value: dict[str, Any]) -> str:
    encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if len(encoded.encode()) > ATTRIBUTES_BYTES:
        raise ValidationFailed(
            f"attributes take at most {ATTRIBUTES_BYTES} bytes as JSON",
            details={"field": "attributes"},
        )
    return encoded


def attributes_of(contact: Contact) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(contact.attributes or "{}")
    return found


def email_in(text: str) -> str | None:
    """The first email address in ``text``, normalised, if it holds one."""
    for candidate in _EMAIL_IN_TEXT.findall(text):
        try:
            return normalise_email(candidate.strip("."))
        except ValidationFailed:
            continue
    return None


def _audited(values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: (audit.REDACTED if name in PERSONAL and value not in (None, {}) else value)
        for name, value in values.items()
    }


def _fields_of(contact: Contact) -> dict[str, Any]:
    return {
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
        "attributes": attributes_of(contact),
        "lead_id": contact.lead_id,
        "spam": contact.spam,
    }


def changes_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The audit log's changes of a contact: personal values shown as changed, not shown."""
    changed = audit.diff(before, after)
    return {
        name: (
            (_audited({name: old})[name], _audited({name: new})[name])
            if name in PERSONAL
            else (old, new)
        )
        for name, (old, new) in changed.items()
    }


# -------------------------------------------------------------------------------- reading


async def get(session: AsyncSession, workspace_id: str, contact_id: str) -> Contact:
    """The workspace's contact; a merged one is not found, as one that never was."""
    found = (
        await InboxRepository(session).contact(workspace_id, contact_id)
        if usable_id(contact_id)
        else None
    )
    if found is None:
        raise NotFound(
            f"contact '{contact_id}' not found", details={"id": contact_id}, resource="contact"
        )
    return found


async def list_contacts(
    session: AsyncSession,
    principal: Principal,
    *,
    search: str | None,
    updated_after: datetime | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> ContactPage:
    """Contacts whose name, email or phone holds ``search`` (case aside), most recently
    updated first; merged ones are left out."""
    rows = await InboxRepository(session).contacts(
        principal.workspace_id,
        search=(search or "").strip().lower() or None,
        updated_after=after_millisecond(updated_after),
        limit=limit + 1,
        after=after,
    )
    found, more = cursors.cut(rows, limit)
    return ContactPage(contacts=found, has_more=more)


# ------------------------------------------------------------------------------- creating


async def find_or_create(
    session: AsyncSession, principal: Principal, given: ContactFields, entries: list[audit.Entry]
) -> tuple[Contact, bool]:
    """The contact ``given`` names: by id; else the one with its email, else with its phone;
    else a new one. A contact found keeps its fields and gains those it lacked."""
    repo = InboxRepository(session)
    if given.id is not None:
        if any(value is not None for value in (given.email, given.name, given.phone)):
            raise ValidationFailed(
                "name a contact by id alone, or give its email, name and phone",
                details={"field": "contact"},
            )
        return await get(session, principal.workspace_id, given.id), False
    email = normalise_email(given.email)
    phone = normalise_phone(given.phone)
    name = normalise_name(given.name)
    if email is None and phone is None and name is None:
        raise ValidationFailed(
            "contact needs an id, or at least one of email, name and phone",
            details={"field": "contact"},
        )
    found = None
    if email is not None:
        found = await repo.contact_by(principal.workspace_id, email=email)
    if found is None and phone is not None:
        found = await repo.contact_by(principal.workspace_id, phone=phone)
    if found is not None:
        before = _fields_of(found)
        for field_name, value in (("email", email), ("phone", phone), ("name", name)):
            if getattr(found, field_name) is None and value is not None:
                setattr(found, field_name, value)
        changes = changes_between(before, _fields_of(found))
        if changes:
            found.updated_at = utcnow()
            entries.append(audit.Entry("contact.updated", "contact", found.id, changes))
        return found, False
    now = utcnow()
    contact = Contact(
        id=new_id("ct"),
        workspace_id=principal.workspace_id,
        name=name,
        email=email,
        phone=phone,
        attributes="{}",
        spam=False,
        created_at=now,
        updated_at=now,
    )
    await repo.add(contact)
    entries.append(
        audit.Entry(
            "contact.created",
            "contact",
            contact.id,
            changes_between({}, {k: v for k, v in _fields_of(contact).items() if v}),
        )
    )
    await webhooks.emit(session, principal.workspace_id, "contact.created", event_data(contact))
    return contact, True


def event_data(contact: Contact) -> dict[str, Any]:
    """A contact as the contact.created event carries it, empty fields left out."""
    values = {
        "contact_id": contact.id,
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
        "created_at": iso_millis(contact.created_at),
    }
    return {name: value for name, value in values.items() if value is not None}


# ------------------------------------------------------------------------------ the lead


async def give_lead(
    session: AsyncSession,
    principal: Principal,
    contact: Contact,
    *,
    visit_id: str | None,
    email: str | None = None,
    entries: list[audit.Entry] | None = None,
) -> None:
    """A contact with an email or phone (or the ``email`` they just wrote) becomes a lead of
    source chat, attributed to ``visit_id``'s visit; a lead of the workspace with the same
    email is linked instead. A contact keeps the lead it was given. The link goes into
    ``entries`` (the audit log's), when given."""
    if contact.lead_id is not None:
        return
    email = contact.email or email
    if email is None and contact.phone is None:
        return
    existing = (
        await leads.lead_with_email(session, principal.workspace_id, email) if email else None
    )
    if existing is not None:
        contact.lead_id = existing.id
    else:
        created = await leads.create_lead(
            session,
            principal,
            LeadCreate(name=contact.name, email=email, phone=contact.phone, visit_id=visit_id),
            source=LeadSource.CHAT,
        )
        contact.lead_id = created.lead.id
    contact.updated_at = utcnow()
    if entries is not None:
        entries.append(
            audit.Entry(
                "contact.updated", "contact", contact.id, {"lead_id": (None, contact.lead_id)}
            )
        )


async def learn_email(
    session: AsyncSession,
    principal: Principal,
    contact: Contact,
    text: str,
    *,
    visit_id: str | None,
    entries: list[audit.Entry],
) -> None:
    """A contact who wrote an email address: kept as theirs when they had none (and no other
    contact has it), and made a lead of."""
    if contact.lead_id is not None and contact.email is not None:
        return
    email = email_in(text)
    if email is None:
        return
    before = _fields_of(contact)
    if contact.email is None:
        other = await InboxRepository(session).contact_by(principal.workspace_id, email=email)
        if other is None:
            contact.email = email
    await give_lead(session, principal, contact, visit_id=visit_id, email=email)
    changes = changes_between(before, _fields_of(contact))
    if changes:
        contact.updated_at = utcnow()
        entries.append(audit.Entry("contact.updated", "contact", contact.id, changes))


# ------------------------------------------------------------------------------ changing


async def update(
    session: AsyncSession,
    principal: Principal,
    contact_id: str,
    changes: ContactChanges,
) -> Contact:
    """Change a contact's name, email, phone or attributes (merged into its own: a key set to
    null is removed). An email another contact has is refused: merge the two instead."""
    contact = await get(session, principal.workspace_id, contact_id)
    before = _fields_of(contact)
    if changes.name is not UNSET:
        contact.name = normalise_name(changes.name)
    if changes.email is not UNSET:
        email = normalise_email(changes.email)
        if email is not None and email != contact.email:
            other = await InboxRepository(session).contact_by(principal.workspace_id, email=email)
            if other is not None and other.id != contact.id:
                raise Conflict(
                    f"contact {other.id} has this email; merge the two contacts instead",
                    details={"field": "email", "contact_id": other.id},
                )
        contact.email = email
    if changes.phone is not UNSET:
        contact.phone = normalise_phone(changes.phone)
    if changes.attributes is not UNSET:
        merged = attributes_of(contact)
        for key, value in check_attributes(changes.attributes).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        contact.attributes = _encode_attributes(merged)
    if contact.lead_id is None and (contact.email or contact.phone):
        visit_id = await InboxRepository(session).latest_visit_of(
            principal.workspace_id, contact.id
        )
        await give_lead(session, principal, contact, visit_id=visit_id)
    changed = changes_between(before, _fields_of(contact))
    if changed:
        contact.updated_at = utcnow()
        await audit.record(
            session,
            principal.workspace_id,
            principal.actor,
            "contact.updated",
            "contact",
            contact.id,
            changed,
        )
    return contact


async def merge(
    session: AsyncSession, principal: Principal, contact_id: str, into_id: str
) -> Contact:
    """Merge contact ``contact_id`` into ``into_id``: its conversations move there, its
    attributes join (``into``'s win where both have one), and ``into`` takes the name, email,
    phone, external id and lead it lacked. The merged contact is not found any more."""
    merged = await get(session, principal.workspace_id, contact_id)
    if into_id == contact_id:
        raise Unprocessable(
            "a contact cannot be merged into itself", details={"field": "into", "id": into_id}
        )
    into = await get(session, principal.workspace_id, into_id)
    before = _fields_of(into)
    for name in ("name", "email", "phone", "external_id", "lead_id"):
        if getattr(into, name) is None and getattr(merged, name) is not None:
            setattr(into, name, getattr(merged, name))
    into.attributes = json.dumps(
        {**attributes_of(merged), **attributes_of(into)}, ensure_ascii=False, separators=(",", ":")
    )
    now = utcnow()
    await InboxRepository(session).move_conversations(
        principal.workspace_id, merged.id, into.id, now
    )
    merged.merged_into_id = into.id
    merged.updated_at = into.updated_at = now
    if into.lead_id is None and (into.email or into.phone):
        visit_id = await InboxRepository(session).latest_visit_of(principal.workspace_id, into.id)
        await give_lead(session, principal, into, visit_id=visit_id)
    entries = [
        audit.Entry("contact.merged", "contact", merged.id, {"merged_into_id": (None, into.id)})
    ]
    if changed := changes_between(before, _fields_of(into)):
        entries.append(audit.Entry("contact.updated", "contact", into.id, changed))
    await audit.record_many(session, principal.workspace_id, principal.actor, entries)
    return into
