"""Signing in: passwords, sign-ins (one browser signed in as one person) and the first owner's
setup link.

A sign-in's secret lives only in the browser's cookie; the table keeps its SHA-256 digest. A
sign-in ends after ``IDLE`` without use, and ``LONGEST`` after it began whatever happens; signing
out ends it, and signing out everywhere ends every sign-in of the person. Deleting a person
deletes their sign-ins and password with them.

An invite is a one-time link naming an email address, a role and (for a marketing person) the
analytics pages: whoever opens it within ``INVITE_VALID`` sets their name and password, joins
the workspace as that address and is signed in.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.accounts import passwords
from leadline.accounts.attempts import SignInAttempts
from leadline.accounts.repository import LinkRepository, PasswordRepository, SignInRepository
from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.auth.roles import PERSON_ROLES, Permission, Role
from leadline.auth.service import Principal, parse_role
from leadline.errors import Conflict, Forbidden, NotFound, Unauthorized
from leadline.kit import tokens
from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.models import OneTimeLink, Person, SignIn, Workspace
from leadline.people import service as people
from leadline.workspaces import service as workspaces

IDLE = timedelta(days=7)
LONGEST = timedelta(days=30)
# last_seen_at is a hint: written at most this often per sign-in.
_TOUCH_EVERY = timedelta(minutes=5)
SETUP = "setup"
SETUP_VALID = timedelta(hours=24)
INVITE = "invite"
INVITE_VALID = timedelta(days=7)
USER_AGENT_MAX = 512
IP_MAX = 64


@dataclass(frozen=True)
class SignedIn:
    """Who a request comes from: the person, their workspace, and the browser's sign-in."""

    person: Person
    workspace: Workspace
    signin: SignIn

    @property
    def role(self) -> Role:
        return Role(self.person.role)

    @property
    def principal(self) -> Principal:
        """The person as the services' callers are: their role's permissions, their name in
        the audit log."""
        return Principal(
            workspace=self.workspace, key_id="", role=self.role, person_id=self.person.id
        )


@dataclass(frozen=True)
class Started:
    """A new sign-in: ``secret`` goes in the browser's cookie and nowhere else."""

    secret: str
    signin: SignIn
    person: Person


# ------------------------------------------------------------------------------ passwords


async def set_password(
    session: AsyncSession, person: Person, password: str, *, actor: Actor
) -> None:
    """Give ``person`` a password (replacing theirs). Their other browsers stay signed in; a
    caller who wants them out signs them out everywhere."""
    passwords.check_new(password)
    await PasswordRepository(session).put(
        person.workspace_id, person.id, await passwords.hash_password(password), utcnow()
    )
    await audit.record(
        session, person.workspace_id, actor, "person.password_set", "person", person.id, {}
    )


async def has_password(session: AsyncSession, person: Person) -> bool:
    return await PasswordRepository(session).of(person.id) is not None


# ------------------------------------------------------------------------------ signing in


def account_of(email: str) -> str:
    """What the per-account limit counts: the address as typed, tidied."""
    return email.strip().lower()[:320]


async def sign_in(
    session: AsyncSession,
    attempts: SignInAttempts,
    email: str,
    password: str,
    *,
    ip: str,
    user_agent: str,
) -> Started:
    """A new sign-in for the person with this address and password. When the address is a
    member of several workspaces, the oldest membership the password opens is chosen.

    Refused (429) while the account or the IP has failed too often lately (``attempts``);
    otherwise 401 with one message for every failure, so it tells no one which addresses
    have accounts."""
    account = account_of(email)
    await attempts.check(account, ip)
    candidates = await people.everywhere_by_email(session, email)
    hashes = await PasswordRepository(session).of_people([person.id for person in candidates])
    chosen: Person | None = None
    for person in candidates:
        if person.id in hashes and await passwords.matches(hashes[person.id], password):
            chosen = person
            break
    if chosen is None:
        if not hashes:
            await passwords.matches(None, password)  # as long as a real check takes
        await attempts.failed(account, ip)
        raise Unauthorized("that email address and password do not match an account")
    if passwords.needs_rehash(hashes[chosen.id]):
        await PasswordRepository(session).put(
            chosen.workspace_id, chosen.id, await passwords.hash_password(password), utcnow()
        )
    return await start(session, chosen, ip=ip, user_agent=user_agent)


async def start(session: AsyncSession, person: Person, *, ip: str, user_agent: str) -> Started:
    """A new sign-in for ``person`` (who has just proved who they are)."""
    repo = SignInRepository(session)
    now = utcnow()
    await repo.remove_expired_of_person(person.workspace_id, person.id, now)
    secret = secrets.token_urlsafe(32)
    signin = await repo.add(
        SignIn(
            id=tokens.digest(secret),
            person_id=person.id,
            workspace_id=person.workspace_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + IDLE,
            user_agent=user_agent[:USER_AGENT_MAX],
            ip=ip[:IP_MAX],
        )
    )
    await audit.record(
        session,
        person.workspace_id,
        Actor("user", person.id),
        "person.signed_in",
        "person",
        person.id,
        {},
    )
    return Started(secret=secret, signin=signin, person=person)


async def signed_in(session: AsyncSession, secret: str | None) -> SignedIn | None:
    """Who the browser holding ``secret`` is signed in as; None when no one (no secret, an
    unknown one, or one whose sign-in has ended)."""
    if not secret or len(secret) > 100:
        return None
    repo = SignInRepository(session)
    signin = await repo.get(tokens.digest(secret))
    if signin is None:
        return None
    now = utcnow()
    if signin.expires_at <= now:
        await repo.remove(signin.id)
        return None
    try:
        person = await people.get(session, signin.workspace_id, signin.person_id)
        workspace = await workspaces.get(session, signin.workspace_id)
    except NotFound:
        await repo.remove(signin.id)
        return None
    if now - signin.last_seen_at >= _TOUCH_EVERY:
        expires = min(now + IDLE, signin.created_at + LONGEST)
        await repo.touch(signin.id, now, expires)
        signin.last_seen_at, signin.expires_at = now, expires
    return SignedIn(person=person, workspace=workspace, signin=signin)


async def signins_of(session: AsyncSession, who: SignedIn) -> list[SignIn]:
    """The browsers signed in as ``who``'s person, most recently used first."""
    return await SignInRepository(session).of_person(who.workspace.id, who.person.id, utcnow())


async def sign_out(session: AsyncSession, who: SignedIn) -> None:
    await SignInRepository(session).remove(who.signin.id)


async def end_signin(session: AsyncSession, who: SignedIn, signin_id: str) -> None:
    """End one of the person's own sign-ins (another browser of theirs); NotFound for any
    other, another person's or workspace's too."""
    ended = "\x00" not in signin_id and await SignInRepository(session).remove_one_of_person(
        who.workspace.id, who.person.id, signin_id
    )
    if not ended:
        raise NotFound("no such sign-in of yours", resource="sign-in")


async def sign_out_everywhere(session: AsyncSession, who: SignedIn) -> int:
    """End every sign-in of the person, this browser's too; how many ended."""
    ended = await SignInRepository(session).remove_of_person(who.workspace.id, who.person.id)
    await audit.record(
        session,
        who.workspace.id,
        Actor("user", who.person.id),
        "person.signed_out_everywhere",
        "person",
        who.person.id,
        {},
    )
    return ended


# ------------------------------------------------------------------------------ setup


async def setup_link(session: AsyncSession) -> str | None:
    """While no workspace has a person: a new one-time setup token (earlier unused ones stop
    working), whose page makes the first owner. None once anyone exists."""
    if await people.anyone(session):
        return None
    workspace = await _setup_workspace(session)
    repo = LinkRepository(session)
    now = utcnow()
    await repo.retire_unused(SETUP, now)
    token = secrets.token_hex(32)
    await repo.add(
        OneTimeLink(
            id=new_id("otl"),
            workspace_id=workspace.id,
            purpose=SETUP,
            token_hash=tokens.digest(token),
            created_at=now,
            expires_at=now + SETUP_VALID,
        )
    )
    return token


async def _setup_workspace(session: AsyncSession) -> Workspace:
    """The workspace the first owner belongs to: ``default``, else the oldest there is."""
    existing = await workspaces.list_workspaces(session)
    for workspace in existing:
        if workspace.slug == workspaces.DEFAULT_SLUG:
            return workspace
    if existing:
        return min(existing, key=lambda workspace: (workspace.created_at, workspace.id))
    workspace, _ = await workspaces.get_or_create(session, workspaces.DEFAULT_SLUG)
    return workspace


async def setup_workspace_of(session: AsyncSession, token: str) -> Workspace:
    """The workspace a usable setup token makes the owner of; NotFound when the token is
    unknown, used or expired, or when someone already has an account."""
    link = await _usable_link(session, token)
    return await workspaces.get(session, link.workspace_id)


async def _usable_link(session: AsyncSession, token: str) -> OneTimeLink:
    gone = NotFound(
        "this setup link has been used or has expired; run `leadline serve` on an instance "
        "without people for a new one, or sign in",
        resource="setup link",
    )
    if not token or len(token) > 100:
        raise gone
    link = await LinkRepository(session).by_token_hash(SETUP, tokens.digest(token))
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        raise gone
    if await people.anyone(session):
        raise gone
    return link


async def complete_setup(
    session: AsyncSession,
    token: str,
    *,
    name: str,
    email: str,
    password: str,
    password_again: str,
    ip: str,
    user_agent: str,
) -> Started:
    """Make the first owner with the setup token (once) and sign them in."""
    link = await _usable_link(session, token)
    passwords.check_new(password, password_again)
    if not await LinkRepository(session).claim(link.id, utcnow()):
        raise Conflict("this setup link was used a moment ago; sign in instead")
    person = await people.add(
        session,
        link.workspace_id,
        email=email,
        name=name,
        role=Role.OWNER.value,
        actor=Actor.system("setup"),
    )
    await set_password(session, person, password, actor=Actor("user", person.id))
    return await start(session, person, ip=ip, user_agent=user_agent)


# ------------------------------------------------------------------------------ invites


@dataclass(frozen=True)
class Invited:
    """A new invite: ``token`` goes in the link and nowhere else."""

    token: str
    link: OneTimeLink


async def invite(
    session: AsyncSession,
    principal: Principal,
    *,
    email: str,
    role: str,
    pages: Sequence[str] | None = None,
) -> Invited:
    """A one-time link that makes a person of ``email`` with ``role`` (and, for a marketing
    person, ``pages``). Takes ``people:manage`` and every power of ``role``: an admin does not
    invite an owner."""
    principal.require(Permission.PEOPLE_MANAGE)
    address = people.normalise_email(email)
    parsed = parse_role(role, PERSON_ROLES)
    own = people.check_pages_for(parsed, pages)
    if not people.holds_every_power_of(principal, parsed):
        raise Forbidden(
            f"only a caller with every power of an {parsed.value} may invite one",
            details={"field": "role", "role": parsed.value},
        )
    try:
        await people.by_email(session, principal.workspace_id, address)
    except NotFound:
        pass
    else:
        raise Conflict(
            f"{address} is a member of this workspace already", details={"field": "email"}
        )
    now = utcnow()
    token = secrets.token_urlsafe(32)
    link = await LinkRepository(session).add(
        OneTimeLink(
            id=new_id("otl"),
            workspace_id=principal.workspace_id,
            purpose=INVITE,
            token_hash=tokens.digest(token),
            created_at=now,
            expires_at=now + INVITE_VALID,
            email=address,
            role=parsed.value,
            pages=people.stored_pages(own),
            invited_by=principal.person_id,
        )
    )
    # The address is personal data: the log keeps the role only.
    await audit.record(
        session,
        principal.workspace_id,
        principal.actor,
        "person.invited",
        "invite",
        link.id,
        {"role": (None, parsed.value)},
    )
    return Invited(token=token, link=link)


async def pending_invites(session: AsyncSession, principal: Principal) -> list[OneTimeLink]:
    """The workspace's invites not used yet and not expired, newest first."""
    principal.require(Permission.PEOPLE_MANAGE)
    return await LinkRepository(session).pending(principal.workspace_id, INVITE, utcnow())


async def revoke_invite(session: AsyncSession, principal: Principal, invite_id: str) -> None:
    """Delete an unused invite of the workspace: its link stops working."""
    principal.require(Permission.PEOPLE_MANAGE)
    removed = "\x00" not in invite_id and await LinkRepository(session).remove_unused(
        principal.workspace_id, INVITE, invite_id
    )
    if not removed:
        raise NotFound(f"no pending invite {invite_id}", resource="invite")
    await audit.record(
        session,
        principal.workspace_id,
        principal.actor,
        "person.invite_revoked",
        "invite",
        invite_id,
        {},
    )


async def invite_of(session: AsyncSession, token: str) -> tuple[OneTimeLink, Workspace]:
    """A usable invite and its workspace; NotFound when the token is unknown, used, expired or
    revoked."""
    gone = NotFound(
        "this invite link has been used, has expired or was withdrawn; ask whoever invited "
        "you for a new one",
        resource="invite",
    )
    if not token or len(token) > 100:
        raise gone
    link = await LinkRepository(session).by_token_hash(INVITE, tokens.digest(token))
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        raise gone
    return link, await workspaces.get(session, link.workspace_id)


async def accept_invite(
    session: AsyncSession,
    token: str,
    *,
    name: str,
    password: str,
    password_again: str,
    ip: str,
    user_agent: str,
) -> Started:
    """Join the workspace with an invite (once), with a name and password, and sign in."""
    link, _ = await invite_of(session, token)
    passwords.check_new(password, password_again)
    if not await LinkRepository(session).claim(link.id, utcnow()):
        raise Conflict("this invite was used a moment ago; sign in instead")
    assert link.email is not None
    assert link.role is not None
    person = await people.add(
        session,
        link.workspace_id,
        email=link.email,
        name=name,
        role=link.role,
        pages=people.own_pages(link.pages),
        actor=Actor.system("invite"),
    )
    await set_password(session, person, password, actor=Actor("user", person.id))
    return await start(session, person, ip=ip, user_agent=user_agent)
