"""People's tokens: secrets that act as one person, with that person's role.

A token is an API key row with its person set (``leadline.auth`` keeps and checks them, and
knows nothing of people). The rules are here: managing tokens takes ``tokens:manage``; a token
is made for the caller's own person unless another is named (an API key has no person, so it
must name one); and a token's secret goes only to a caller with every power of its person, so
an admin cannot mint or rotate their way into an owner's rights.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit.service import Actor
from leadline.auth import service as auth
from leadline.auth.roles import Permission, Role
from leadline.auth.service import IssuedKey, Principal, TokenPage
from leadline.errors import Forbidden, ValidationFailed
from leadline.models import ApiKey, Person, Workspace
from leadline.people import service as people
from leadline.workspaces import service as workspaces


@dataclass(frozen=True)
class IssuedToken:
    issued: IssuedKey  # its ``token`` is shown once, never stored
    person: Person


def _may_hold_secret_of(principal: Principal, person: Person) -> None:
    if not people.holds_every_power_of(principal, Role(person.role)):
        raise Forbidden(
            f"a token of {person.email} would act as an {person.role}, with powers this caller "
            "does not have",
            details={"person_id": person.id, "role": person.role},
        )


async def issue(
    session: AsyncSession, workspace: Workspace, person: Person, *, name: str | None, actor: Actor
) -> IssuedKey:
    """A new token acting as ``person``; no check of who asks (the command line may). A
    marketing person holds none: they read analytics in the dashboard, and a marketing key
    serves any program that needs the same."""
    if not people.is_operator(person):
        raise ValidationFailed(
            f"{person.email} is a marketing person, who holds no token; create a marketing "
            "key instead",
            details={"field": "person_id", "person_id": person.id, "role": person.role},
        )
    return await auth.issue_person_token(
        session,
        workspace,
        person_id=person.id,
        role=person.role,
        name=name,
        # Not the person's name or email: a key's name is in the audit log as it is.
        default_name=f"{person.role} token of {person.id}",
        actor=actor,
    )


async def create(
    session: AsyncSession,
    principal: Principal,
    *,
    person_id: str | None = None,
    name: str | None = None,
) -> IssuedToken:
    """A new token for ``person_id``, or for the caller's own person."""
    principal.require(Permission.TOKENS_MANAGE)
    target = person_id if person_id is not None else principal.person_id
    if target is None:
        raise ValidationFailed(
            "an API key acts for no person: name the token's person in person_id",
            details={"field": "person_id"},
        )
    person = await people.get(session, principal.workspace_id, target)
    _may_hold_secret_of(principal, person)
    issued = await issue(session, principal.workspace, person, name=name, actor=principal.actor)
    return IssuedToken(issued, person)


async def create_for_email(
    session: AsyncSession, workspace_slug: str, email: str, *, name: str | None, actor: Actor
) -> IssuedToken:
    """A new token for the person with ``email`` in the workspace ``workspace_slug``."""
    workspace = await workspaces.require(session, workspace_slug)
    person = await people.by_email(session, workspace.id, email)
    issued = await issue(session, workspace, person, name=name, actor=actor)
    return IssuedToken(issued, person)


async def list_tokens(
    session: AsyncSession,
    principal: Principal,
    *,
    person_id: str | None = None,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> TokenPage:
    """The workspace's tokens (of one person, if given), revoked ones too, newest first."""
    principal.require(Permission.TOKENS_MANAGE)
    return await auth.tokens_of(
        session, principal.workspace_id, person_id=person_id, limit=limit, after=after
    )


async def revoke(session: AsyncSession, principal: Principal, token_id: str) -> ApiKey:
    """Revoke a token: refused from the next request on. Revoking it again changes nothing."""
    principal.require(Permission.TOKENS_MANAGE)
    return await auth.revoke_token(session, principal.workspace_id, token_id, principal.actor)


async def rotate(session: AsyncSession, principal: Principal, token_id: str) -> IssuedKey:
    """A new secret for a token (in the answer only); the old one is refused from the next
    request on. 409 for a revoked token."""
    principal.require(Permission.TOKENS_MANAGE)
    key = await auth.token_of(session, principal.workspace_id, token_id)
    assert key.person_id is not None  # token_of finds people's tokens only
    _may_hold_secret_of(principal, await people.get(session, principal.workspace_id, key.person_id))
    return await auth.rotate_token(session, principal.workspace, token_id, principal.actor)
