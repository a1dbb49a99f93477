"""Erasure: one transaction removes a person from every table that declared personal data.

The person is found, then erased, by the registry alone (``leadline.models.personal``): their
emails and phones find their leads, submissions and contacts; those rows' ids find the rows
that point to them (status history, conversations, visits, ...), until nothing new turns up.
Then each declared table does what it declared, children before parents. The receipt names
what was matched only in masked form, counts the rows each table lost or had emptied, and
carries a SHA-256 over all of it.

When ClickHouse keeps the tracking events and visits' starts (LEADLINE_CLICKHOUSE_URL), pass
its client: the tables there that the registry declares (``PersonalData.clickhouse``) are
erased too, in the erasure's last transaction before it commits (a failure there rolls the
erasure back), and counted as ``clickhouse.<table>``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.auth.service import Principal
from leadline.clickhouse.client import ClickHouse
from leadline.errors import NotFound, ValidationFailed
from leadline.inbox import contacts as inbox_contacts
from leadline.jobs import service as jobs
from leadline.kit.ids import new_id
from leadline.kit.jsonsafe import canonical_json
from leadline.kit.time import iso_millis, utcnow
from leadline.leads import service as leads
from leadline.models import Erasure
from leadline.models.personal import ERASED_TEXT
from leadline.privacy import clickhouse_repository
from leadline.privacy.registry import (
    Declared,
    Person,
    clickhouse_tables,
    declared,
    subject_tables,
)
from leadline.privacy.repository import ErasureRepository, PersonRepository
from leadline.webhooks import service as webhooks

# Passes over the registry while a person's rows keep leading to more of them; a chain of
# links (email -> contact -> conversation -> visit -> visitor) is far shorter.
MAX_PASSES = 10
MAX_EMAIL_LENGTH = 320
MAX_PHONE_LENGTH = 64
# Rows of a person above which an erasure asked for by email or phone runs as a job, a batch
# per transaction, rather than in the request's one transaction.
LARGE_ERASURE = 20_000
ERASE_JOB = "privacy.erase"
MIN_DIGITS = 6
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?[0-9 ().\-/]+")


@dataclass(frozen=True)
class Receipt:
    id: str
    workspace_id: str
    erased_at: datetime
    actor: Actor
    contact_id: str | None
    matched: dict[str, str]
    # While ``running``: the rows erased so far; no receipt hash yet.
    counts: dict[str, int]
    receipt_hash: str | None
    state: str = "done"


def _receipt_of(erasure: Erasure) -> Receipt:
    return Receipt(
        id=erasure.id,
        workspace_id=erasure.workspace_id,
        erased_at=erasure.created_at,
        actor=Actor(erasure.actor_type, erasure.actor_id),  # type: ignore[arg-type]
        contact_id=erasure.contact_id,
        matched=json.loads(erasure.matched),
        counts=json.loads(erasure.counts),
        receipt_hash=erasure.receipt_hash or None,
        state=erasure.state,
    )


def receipt_hash(
    erasure_id: str,
    workspace_id: str,
    erased_at: datetime,
    actor: Actor,
    contact_id: str | None,
    matched: Mapping[str, str],
    counts: Mapping[str, int],
) -> str:
    """SHA-256 over the receipt's canonical JSON: anyone holding a receipt can check it."""
    body = {
        "id": erasure_id,
        "workspace_id": workspace_id,
        "erased_at": iso_millis(erased_at),
        "actor": {"type": actor.type, "id": actor.id},
        "contact_id": contact_id,
        "matched": dict(matched),
        "counts": dict(counts),
    }
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def masked(emails: Sequence[str], phones: Sequence[str]) -> dict[str, str]:
    """What a person was matched by, masked (``a***@example.com``)."""
    matched = {}
    for n, email in enumerate(emails):
        matched[f"email{n or ''}"] = leads.mask_email(email) or ""
    for n, phone in enumerate(phones):
        matched[f"phone{n or ''}"] = leads.mask_phone(phone) or ""
    return matched


def clean_person(emails: Sequence[str], phones: Sequence[str]) -> tuple[list[str], list[str]]:
    """The emails and phones named, trimmed and without repeats, each one that can only be a
    person's (ValidationFailed otherwise): an erasure looks for them inside copied text, where
    a fragment such as ``0`` would match everyone."""
    emails = sorted({e.strip() for e in emails if e and e.strip()})
    phones = sorted({p.strip() for p in phones if p and p.strip()})
    for email in emails:
        if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(email):
            raise ValidationFailed(
                f"email must be an address such as ada@example.com (at most "
                f"{MAX_EMAIL_LENGTH} characters)",
                details={"field": "email"},
            )
    for phone in phones:
        digits = sum(ch.isdigit() for ch in phone)
        if len(phone) > MAX_PHONE_LENGTH or not _PHONE.fullmatch(phone) or digits < MIN_DIGITS:
            raise ValidationFailed(
                f"phone must be a number of at least {MIN_DIGITS} digits (at most "
                f"{MAX_PHONE_LENGTH} characters)",
                details={"field": "phone"},
            )
    return emails, phones


# ------------------------------------------------------------------------------- finding


async def find(
    session: AsyncSession,
    workspace_id: str,
    *,
    emails: Sequence[str] = (),
    phones: Sequence[str] = (),
    contact_id: str | None = None,
    tables: Sequence[Declared] | None = None,
) -> Person:
    """Everything the workspace's rows link to the person named by ``emails``, ``phones``
    or an inbox contact."""
    person = Person()
    for email in emails:
        person.add("email", email)
    for phone in phones:
        person.add("phone", phone)
    if contact_id is not None:
        person.add("contact", contact_id)
    repo = PersonRepository(session)
    tables = subject_tables() if tables is None else tables
    for _ in range(MAX_PASSES):
        grew = False
        for one in tables:
            grew = await repo.gather(workspace_id, one, person) or grew
        if not grew:
            break
    return person


# ------------------------------------------------------------------------------ scrubbing


def scrubber(words: Sequence[str]) -> Any:
    """A function that replaces each of ``words`` (ignoring case) by ERASED_TEXT in a text:
    in each string of it when the text is a JSON document, so the document stays one."""
    if not words:
        return lambda text: text
    # Whole words only: a short name must not take a bite out of a longer word.
    alternatives = "|".join(re.escape(word) for word in words)
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    def in_value(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(ERASED_TEXT, value)
        if isinstance(value, list):
            return [in_value(item) for item in value]
        if isinstance(value, dict):
            return {in_value(key): in_value(item) for key, item in value.items()}
        return value

    def scrub(text: str) -> str:
        if not pattern.search(text) and not ("\\u" in text and text.lstrip()[:1] in "{["):
            return text
        try:
            document = json.loads(text)
        except ValueError:
            return pattern.sub(ERASED_TEXT, text)
        if not isinstance(document, dict | list):
            return pattern.sub(ERASED_TEXT, text)
        cleaned = in_value(document)
        if cleaned == document:
            return text
        return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"))

    return scrub


# --------------------------------------------------------------------------- anonymising


def visit_tables() -> list[Declared]:
    """The tables whose rows are found by a visit and kept when it is anonymised: the visit
    itself, its events, its consent ledger entries. A table that deletes its rows of a person
    (a lead of the visit, a submission made in it) is not the visit's own: it stays."""
    return [
        replace(one, data=one.data.anonymising())
        for one in declared()
        if one.data.subject and not one.data.delete and "visit" in one.data.match.values()
    ]


async def anonymise_visits(
    session: AsyncSession, workspace_id: str, visit_ids: Sequence[str]
) -> dict[str, int]:
    """Do to the workspace's ``visit_ids`` (kept past their retention for the leads that
    point to them) what the registry declares erasure does to a visit's own rows
    (``visit_tables``), less what it keeps for the lead (``anonymise_keeps``), in the caller's
    transaction and without following them to anyone else: what ties them to a browser goes,
    the rows stay and stay counted. Rows changed per table."""
    if not visit_ids:
        return {}
    person = Person({"visit": set(visit_ids)})
    repo = PersonRepository(session)
    scrub = scrubber([])
    now = utcnow()
    return {
        one.name: await repo.erase(workspace_id, one, person, now, scrub)
        for one in reversed(visit_tables())
    }


# ------------------------------------------------------------------------------- erasing


async def erase(
    session: AsyncSession,
    workspace_id: str,
    actor: Actor,
    *,
    emails: Sequence[str] = (),
    phones: Sequence[str] = (),
    contact_id: str | None = None,
    erasure_id: str | None = None,
    clickhouse: ClickHouse | None = None,
) -> Receipt:
    """Remove or empty the person with ``emails`` or ``phones`` (or the inbox contact) in
    every declared table (ClickHouse's too, with ``clickhouse``), in the caller's
    transaction; leave tombstones and a receipt."""
    emails, phones = _named(emails, phones, contact_id)
    tables = subject_tables()
    person = await find(
        session, workspace_id, emails=emails, phones=phones, contact_id=contact_id, tables=tables
    )
    return await _erase_now(
        session,
        workspace_id,
        actor,
        person,
        (emails, phones, contact_id, erasure_id),
        tables,
        clickhouse,
    )


async def request_erasure(
    session: AsyncSession,
    workspace_id: str,
    actor: Actor,
    *,
    emails: Sequence[str] = (),
    phones: Sequence[str] = (),
    clickhouse: ClickHouse | None = None,
) -> Receipt:
    """An erasure asked for by email or phone: done now, in the caller's transaction, when
    the person has at most LARGE_ERASURE rows; otherwise started as a job (the receipt says
    ``running`` and counts as it goes), which erases a batch per transaction and carries on
    where it stopped after a crash."""
    emails, phones = _named(emails, phones, None)
    tables = subject_tables()
    person = await find(session, workspace_id, emails=emails, phones=phones, tables=tables)
    repo = PersonRepository(session)
    size = 0
    for one in tables:
        size += await repo.count(workspace_id, one, person)
        if size > LARGE_ERASURE:
            return await _start_job(session, workspace_id, actor, person, emails, phones)
    return await _erase_now(
        session, workspace_id, actor, person, (emails, phones, None, None), tables, clickhouse
    )


def _named(
    emails: Sequence[str], phones: Sequence[str], contact_id: str | None
) -> tuple[list[str], list[str]]:
    if contact_id is not None:
        # The contact's own values, as stored: whatever they are, the contact goes.
        return (
            sorted({e.strip() for e in emails if e and e.strip()}),
            sorted({p.strip() for p in phones if p and p.strip()}),
        )
    emails, phones = clean_person(emails, phones)
    if not emails and not phones:
        raise ValidationFailed("name an email or a phone to erase", details={"field": "email"})
    return emails, phones


async def _erase_now(
    session: AsyncSession,
    workspace_id: str,
    actor: Actor,
    person: Person,
    named: tuple[list[str], list[str], str | None, str | None],
    tables: Sequence[Declared],
    clickhouse: ClickHouse | None,
) -> Receipt:
    """``named``: the emails, phones and contact asked for, and the erasure's id if chosen."""
    emails, phones, contact_id, erasure_id = named
    await leads.before_erasure(session, workspace_id, person.of("lead"))
    now = utcnow()
    scrub = scrubber(person.words())
    repo = PersonRepository(session)
    counts = {
        one.name: await repo.erase(workspace_id, one, person, now, scrub)
        for one in reversed(tables)
    }
    erasure = Erasure(
        id=erasure_id or new_id("era"),
        workspace_id=workspace_id,
        actor_type=actor.type,
        actor_id=actor.id,
        contact_id=contact_id,
        matched=canonical_json(masked(emails, phones)),
        counts="{}",
        receipt_hash="",
        created_at=now,
        state="running",
    )
    await ErasureRepository(session).add(erasure)
    return await _finish(session, erasure, person, counts, scrub, clickhouse)


async def _finish(
    session: AsyncSession,
    erasure: Erasure,
    person: Person,
    counts: dict[str, int],
    scrub: Callable[[str], str],
    clickhouse: ClickHouse | None = None,
) -> Receipt:
    """What closes an erasure, in its last transaction: the person's rows in ClickHouse
    erased (with ``clickhouse``), older audit events rewritten, tombstones, the receipt
    sealed, the log and the webhook told."""
    workspace_id = erasure.workspace_id
    actor = Actor(erasure.actor_type, erasure.actor_id)  # type: ignore[arg-type]
    if clickhouse is not None:
        counts.update(
            await clickhouse_repository.erase_all(
                clickhouse, clickhouse_tables(), workspace_id, person, scrub
            )
        )
    for one in subject_tables():
        counts.setdefault(one.name, 0)
    # Older audit events that hold the person are rewritten; the chain still verifies.
    counts["audit_events"] = await audit.redact(
        session,
        workspace_id,
        actor,
        target_ids=[
            *person.of("lead"),
            *person.of("contact"),
            *person.of("conversation"),
            *person.of("submission"),
        ],
        needles=person.needles(),
        addresses=person.of("ip"),
        scrub=scrub,
        reason=("erasure", erasure.id),
    )
    await leads.leave_tombstones(
        session,
        workspace_id,
        emails=person.of("email"),
        phones=person.of("phone"),
        erasure_id=erasure.id,
    )
    counts = dict(sorted(counts.items()))
    matched = json.loads(erasure.matched)
    digest = receipt_hash(
        erasure.id, workspace_id, erasure.created_at, actor, erasure.contact_id, matched, counts
    )
    erasure.counts = canonical_json(counts)
    erasure.receipt_hash = digest
    erasure.state = "done"
    erasure.progress = None
    await session.flush()
    # The log keeps that an erasure happened, what it matched (masked) and its counts, never
    # what was erased.
    await audit.record(
        session,
        workspace_id,
        actor,
        "person.erased",
        "erasure",
        erasure.id,
        {"matched": (None, matched), "counts": (None, counts), "receipt_hash": (None, digest)},
    )
    await webhooks.emit(
        session,
        workspace_id,
        "contact.erased",
        {
            "erasure_id": erasure.id,
            **({"contact_id": erasure.contact_id} if erasure.contact_id else {}),
            "erased_at": iso_millis(erasure.created_at),
            "counts": counts,
        },
    )
    return _receipt_of(erasure)


# -------------------------------------------------------------------- large erasures


async def _start_job(
    session: AsyncSession,
    workspace_id: str,
    actor: Actor,
    person: Person,
    emails: list[str],
    phones: list[str],
) -> Receipt:
    erasure = Erasure(
        id=new_id("era"),
        workspace_id=workspace_id,
        actor_type=actor.type,
        actor_id=actor.id,
        contact_id=None,
        matched=canonical_json(masked(emails, phones)),
        counts="{}",
        receipt_hash="",
        created_at=utcnow(),
        state="running",
        progress=canonical_json(
            {"person": {key: sorted(values) for key, values in person.values.items()}}
        ),
    )
    await ErasureRepository(session).add(erasure)
    await jobs.enqueue(session, ERASE_JOB, {"erasure_id": erasure.id}, workspace_id=workspace_id)
    return _receipt_of(erasure)


async def erase_some(
    session: AsyncSession, erasure_id: str, batch: int, clickhouse: ClickHouse | None = None
) -> bool:
    """One step of a running erasure, in the caller's transaction: up to ``batch`` rows of
    the table it stands at, from the last key it reached (the person was found when it
    started, so the same rows are erased whatever the step); the last step erases the
    person in ``clickhouse`` too. Whether the erasure is over (this step sealed its receipt,
    or it was not running)."""
    erasure = await ErasureRepository(session).running(erasure_id)
    if erasure is None or erasure.progress is None:
        return True
    progress = json.loads(erasure.progress)
    person = Person({key: set(values) for key, values in progress["person"].items()})
    counts: dict[str, int] = json.loads(erasure.counts)
    tables = list(reversed(subject_tables()))
    names = [one.name for one in tables]
    at = names.index(progress["table"]) if progress.get("table") in names else 0
    after = progress.get("after")
    repo = PersonRepository(session)
    scrub = scrubber(person.words())
    # Tables with nothing (left) to erase are passed in the same step.
    while not (
        keys := await repo.next_keys(erasure.workspace_id, tables[at], person, after, batch)
    ):
        if at + 1 == len(tables):
            await _finish(session, erasure, person, counts, scrub, clickhouse)
            return True
        at, after = at + 1, None
    one = tables[at]
    if one.name == "leads":
        await leads.before_erasure(session, erasure.workspace_id, [key[0] for key in keys])
    done = await repo.erase(erasure.workspace_id, one, person, utcnow(), scrub, keys=keys)
    counts[one.name] = counts.get(one.name, 0) + done
    progress.update(table=one.name, after=list(keys[-1]))
    erasure.progress = canonical_json(progress)
    erasure.counts = canonical_json(counts)
    return False


async def erase_contact(
    session: AsyncSession,
    principal: Principal,
    contact_id: str,
    clickhouse: ClickHouse | None = None,
) -> Receipt:
    """Erase an inbox contact: the contact (and any merged into it), their conversations'
    text, and every lead, submission and visit of their emails and phones and of the leads
    they became, in one transaction; ``contact.erased`` is sent."""
    contact = await inbox_contacts.get(session, principal.workspace_id, contact_id)
    return await erase(
        session,
        principal.workspace_id,
        principal.actor,
        emails=[contact.email] if contact.email else [],
        phones=[contact.phone] if contact.phone else [],
        contact_id=contact_id,
        clickhouse=clickhouse,
    )


async def receipt(session: AsyncSession, workspace_id: str, erasure_id: str) -> Receipt:
    found = (
        None
        if "\x00" in erasure_id
        else await ErasureRepository(session).get(workspace_id, erasure_id)
    )
    if found is None:
        raise NotFound(f"no erasure {erasure_id} in this workspace", resource="erasure")
    return _receipt_of(found)
