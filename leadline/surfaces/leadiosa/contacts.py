"""``/contacts``: the people the workspace talks to in the inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
)
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import Response

from leadline.auth.roles import Permission
from leadline.inbox import contacts
from leadline.inbox.schemas import UNSET, ContactChanges
from leadline.kit import cursors
from leadline.kit.time import iso_millis
from leadline.models import Contact
from leadline.privacy import service as privacy
from leadline.surfaces.leadiosa import schemas as s
from leadline.surfaces.leadiosa.dependencies import (
    DEFAULT_LIMIT,
    TIME_SCHEMA,
    After,
    Caller,
    EventStore,
    Limit,
    Session,
    plain_text,
    time_parameter,
)
from leadline.surfaces.leadiosa.envelope import data, omit_empty, page

router = APIRouter(tags=["contacts"])

ContactId = Annotated[str, Path(max_length=64, description="The contact's id (`ct_...`).")]
AttributeName = Annotated[
    str, StringConstraints(min_length=1, max_length=contacts.ATTRIBUTE_KEY_LENGTH)
]
AttributeText = Annotated[str, StringConstraints(max_length=contacts.ATTRIBUTE_TEXT_LENGTH)]
AttributeValue = AttributeText | StrictInt | StrictFloat | StrictBool | None

# ----------------------------------------------------------------------------- schemas


class ContactPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=contacts.NAME_LENGTH)
    email: str | None = Field(default=None, max_length=contacts.EMAIL_LENGTH)
    phone: str | None = Field(default=None, max_length=contacts.PHONE_LENGTH)
    attributes: dict[AttributeName, AttributeValue] | None = Field(
        default=None,
        max_length=contacts.ATTRIBUTE_KEYS,
        description="Merged into the contact's: a key set to null is removed. Text, numbers "
        "and booleans; at most 50 keys and 16 KB.",
    )


class Merge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: str = Field(min_length=1, max_length=64, description="The contact that stays (`ct_...`).")


class ContactOut(BaseModel):
    id: str
    name: str | SkipJsonSchema[None] = None
    email: str | SkipJsonSchema[None] = None
    phone: str | SkipJsonSchema[None] = None
    attributes: dict[str, Any] | SkipJsonSchema[None] = None
    external_id: str | SkipJsonSchema[None] = None
    lead_id: str | SkipJsonSchema[None] = Field(
        default=None, description="The lead the contact became when they gave an email or phone."
    )
    spam: bool
    created_at: datetime
    updated_at: datetime


class ContactEnvelope(BaseModel):
    data: ContactOut


class ContactList(BaseModel):
    data: list[ContactOut]
    pagination: s.Pagination


# --------------------------------------------------------------------------- rendering


def render_contact(contact: Contact) -> dict[str, Any]:
    return omit_empty(
        {
            "id": contact.id,
            "name": contact.name,
            "email": contact.email,
            "phone": contact.phone,
            "attributes": contacts.attributes_of(contact),
            "external_id": contact.external_id,
            "lead_id": contact.lead_id,
            "spam": contact.spam,
            "created_at": iso_millis(contact.created_at),
            "updated_at": iso_millis(contact.updated_at),
        }
    )


def _position(key: dict[str, Any]) -> tuple[datetime, str]:
    return cursors.timestamp(key["updated_at"]), cursors.identifier(key["id"])


def _key(contact: Contact) -> dict[str, Any]:
    return {"updated_at": cursors.time_key(contact.updated_at), "id": contact.id}


# ------------------------------------------------------------------------------ routes

CONTACT = "/contacts/{contact_id}"


@router.get("/contacts", response_model=ContactList, responses=s.responses(400))
async def list_contacts(
    session: Session,
    caller: Caller,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Name, email or phone contains this (any case)."),
    ] = None,
    updated_after: Annotated[
        str | None,
        Query(
            description="Only those changed after this ISO-8601 time (UTC if no zone).",
            json_schema_extra=TIME_SCHEMA,
        ),
    ] = None,
) -> Response:
    """The workspace's contacts, most recently changed first; merged ones are left out."""
    caller.require(Permission.INBOX)
    found = await contacts.list_contacts(
        session,
        caller,
        search=plain_text(q, "q"),
        updated_after=time_parameter(updated_after, "updated_after"),
        limit=limit,
        after=cursors.resume(after, _position),
    )
    listed = cursors.page(found.contacts, has_more=found.has_more, key=_key)
    return page(listed, (render_contact(item) for item in listed.items))


@router.get(CONTACT, response_model=ContactEnvelope, responses=s.responses(400, 404))
async def get_contact(session: Session, caller: Caller, contact_id: ContactId) -> Response:
    caller.require(Permission.INBOX)
    return data(render_contact(await contacts.get(session, caller.workspace_id, contact_id)))


@router.patch(CONTACT, response_model=ContactEnvelope, responses=s.responses(400, 404, 409, 413))
async def update_contact(
    session: Session, caller: Caller, contact_id: ContactId, body: ContactPatch
) -> Response:
    """Change a contact's name, email, phone or attributes; fields left out stay, null
    clears. A contact who now has an email or phone becomes a lead."""
    caller.require(Permission.INBOX)
    given = body.model_fields_set
    changes = ContactChanges(
        name=body.name if "name" in given else UNSET,
        email=body.email if "email" in given else UNSET,
        phone=body.phone if "phone" in given else UNSET,
        attributes=body.attributes if body.attributes is not None else UNSET,
    )
    return data(render_contact(await contacts.update(session, caller, contact_id, changes)))


@router.post(
    CONTACT + "/merge",
    response_model=ContactEnvelope,
    responses=s.responses(400, 404, 413, 422),
)
async def merge_contact(
    session: Session, caller: Caller, contact_id: ContactId, body: Merge
) -> Response:
    """Merge this contact into `into`, which the answer shows: conversations and attributes
    move there. This contact is not found afterwards."""
    caller.require(Permission.INBOX)
    return data(render_contact(await contacts.merge(session, caller, contact_id, body.into)))


# ----------------------------------------------------------------------------- erasure

ErasureId = Annotated[str, Path(max_length=64, description="The erasure's id (`era_...`).")]


class ErasureActor(BaseModel):
    type: str = Field(description="`user` (a person's token), `key`, `cli` or `system`.")
    id: str | SkipJsonSchema[None] = None


class Erasure(BaseModel):
    id: str
    contact_id: str | SkipJsonSchema[None] = None
    erased_at: datetime
    erased_by: ErasureActor
    matched: dict[str, str] | SkipJsonSchema[None] = Field(
        default=None,
        description="What the person was matched by, masked (`a***@example.com`); absent "
        "when the contact had no email or phone.",
    )
    state: str = Field(
        description="`done`, or `running` while a job erases a large history (the counts are "
        "those so far; the receipt hash comes when it is done)."
    )
    counts: dict[str, int] = Field(description="Rows removed or emptied, per table.")
    receipt_hash: str | SkipJsonSchema[None] = Field(
        default=None,
        description="SHA-256 of the receipt's canonical JSON (docs/privacy.md says how); absent "
        "while running.",
    )


class ErasureEnvelope(BaseModel):
    data: Erasure


def render_erasure(receipt: privacy.Receipt) -> dict[str, Any]:
    rendered = omit_empty(
        {
            "id": receipt.id,
            "contact_id": receipt.contact_id,
            "erased_at": iso_millis(receipt.erased_at),
            "erased_by": omit_empty({"type": receipt.actor.type, "id": receipt.actor.id}),
            "matched": receipt.matched,
            "state": receipt.state,
            "counts": receipt.counts,
            "receipt_hash": receipt.receipt_hash,
        }
    )
    # Counts are always there: empty at the start of a running erasure.
    rendered["counts"] = receipt.counts
    return rendered


@router.get(
    "/contacts/erasures/{erasure_id}",
    response_model=ErasureEnvelope,
    responses=s.responses(400, 404),
)
async def get_erasure(session: Session, caller: Caller, erasure_id: ErasureId) -> Response:
    """The receipt of an erasure: when, by whom, what was matched (masked) and the rows
    removed per table."""
    caller.require(Permission.INBOX)
    return data(render_erasure(await privacy.receipt(session, caller.workspace_id, erasure_id)))


@router.delete(CONTACT, response_model=ErasureEnvelope, responses=s.responses(400, 404, 409))
async def erase_contact(
    session: Session, caller: Caller, contact_id: ContactId, clickhouse: EventStore
) -> Response:
    """GDPR erasure: the contact, their messages' text, and every lead, submission and visit
    that carries their email or phone are removed in one transaction; a tombstone and the
    receipt (this answer) stay. `contact.erased` is sent."""
    caller.require(Permission.INBOX)
    return data(
        render_erasure(await privacy.erase_contact(session, caller, contact_id, clickhouse))
    )
