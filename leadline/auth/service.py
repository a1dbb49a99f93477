"""Issuing, listing, revoking and checking API keys and people's tokens."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.auth.pages import parse_pages
from leadline.auth.repository import ApiKeyRepository
from leadline.auth.roles import (
    KEY_ROLES,
    MASKED_ROLES,
    OPERATOR_ROLES,
    PERSON_ROLE_PERMISSIONS,
    ROLE_PERMISSIONS,
    Permission,
    Role,
)
from leadline.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from leadline.kit import cursors, tokens
from leadline.kit.changes import PRINCIPALS, announce
from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.models import ApiKey, Workspace
from leadline.workspaces import service as workspaces

# last_used_at is a hint, not a log: write it at most this often per key.
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key, its workspace and its role; for a person's token, the person
    too (``person_id``), whose role it carries."""

    workspace: Workspace
    key_id: str
    role: Role
    person_id: str | None = None
    # The analytics pages a marketing key may open (None: the default ones; see
    # leadline.auth.pages). Other roles ignore it.
    pages: tuple[str, ...] | None = None

    @property
    def workspace_id(self) -> str:
        return self.workspace.id

    @property
    def masks_personal_data(self) -> bool:
        return self.role in MASKED_ROLES

    @property
    def actor(self) -> Actor:
        """Who the audit log names: the person, or the key."""
        return Actor("user", self.person_id) if self.person_id else Actor.key(self.key_id)

    @property
    def permissions(self) -> frozenset[Permission]:
        table = PERSON_ROLE_PERMISSIONS if self.person_id else ROLE_PERMISSIONS
        return table.get(self.role, frozenset())

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            whose = "this token's person" if self.person_id else "this API key"
            raise Forbidden(
                f"{whose}'s role ({self.role.value}) may not do this ({permission.value})",
                details={"role": self.role.value, "permission": permission.value},
            )


def require_powers_of_key(principal: Principal, role: Role) -> None:
    """Refuse a caller without every power of a key of ``role``: making one, regenerating or
    revoking it takes them all (an admin person, who may not close the workspace, does not
    make an admin key, which may)."""
    if not principal.permissions >= ROLE_PERMISSIONS.get(role, frozenset()):
        raise Forbidden(
            f"a {role.value} key has powers this caller does not have; ask an owner",
            details={"role": role.value},
        )


def parse_role(value: str, allowed: tuple[Role, ...] = KEY_ROLES) -> Role:
    """``value`` as one of the ``allowed`` roles (by default, those an API key may have)."""
    if value in {role.value for role in allowed}:
        return Role(value)
    names = ", ".join(role.value for role in allowed)
    raise ValidationFailed(
        f"unknown role '{value}'; use one of: {names}", details={"field": "role"}
    )


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    workspace: Workspace
    token: str  # shown once, never stored


async def create_key(
    session: AsyncSession,
    *,
    workspace_slug: str,
    role: str,
    name: str | None = None,
    actor: Actor | None = None,
    token: str | None = None,
    pages: Sequence[str] | None = None,
) -> IssuedKey:
    """A new key; ``token`` keeps one the workspace's clients already send (checked by
    ``check_given_key``) instead of making one; ``pages``, for a marketing key only, the
    analytics pages it opens (the default ones without)."""
    actor = actor or Actor.cli()
    _check_pages_for(parse_role(role), pages)
    if token is not None:
        check_given_key(token)
        if await ApiKeyRepository(session).find_by_hash(tokens.digest(token)) is not None:
            raise Conflict("that key is in use already")
    workspace, _ = await workspaces.get_or_create(session, workspace_slug, actor=actor)
    return await issue_key(
        session, workspace, role=role, name=name, actor=actor, token=token, pages=pages
    )


# A key given from elsewhere: long enough not to be guessed, and sendable in a header as is.
_GIVEN_KEY = re.compile(r"^[\x21-\x7e]{20,200}$")


def check_given_key(token: str) -> None:
    if not _GIVEN_KEY.match(token):
        raise ValidationFailed(
            "a key given must be 20-200 printable characters without spaces",
            details={"field": "key"},
        )


async def issue_key(
    session: AsyncSession,
    workspace: Workspace,
    *,
    role: str,
    name: str | None = None,
    actor: Actor,
    token: str | None = None,
    pages: Sequence[str] | None = None,
) -> IssuedKey:
    """A new key of ``role`` in ``workspace``; its token is in the answer and nowhere else.
    ``pages``: a marketing key's own list of analytics pages (None: the default ones)."""
    parsed = parse_role(role)
    return await _issue(
        session,
        workspace,
        parsed,
        name=name,
        default_name=f"{parsed.value} key",
        actor=actor,
        token=token,
        pages=_check_pages_for(parsed, pages),
    )


def _check_pages_for(role: Role, pages: Sequence[str] | None) -> tuple[str, ...] | None:
    """``pages`` read, for a key of ``role``; only a marketing key has its own list."""
    if pages is None:
        return None
    if role is not Role.MARKETING:
        raise ValidationFailed(
            "only a marketing key has a list of pages", details={"field": "pages"}
        )
    return parse_pages(pages)


def pages_of_key(key: ApiKey) -> tuple[str, ...] | None:
    """The pages a key's own list names; None when it has none (the default pages)."""
    if key.pages is None:
        return None
    return tuple(str(page) for page in json.loads(key.pages))


def _stored_pages(pages: tuple[str, ...] | None) -> str | None:
    return None if pages is None else json.dumps(list(pages))


async def issue_person_token(
    session: AsyncSession,
    workspace: Workspace,
    *,
    person_id: str,
    role: str,
    name: str | None,
    default_name: str,
    actor: Actor,
) -> IssuedKey:
    """A new token that acts as the person ``person_id``, with their ``role`` (owner, admin or
    agent: marketing people hold no token). Who may be given one is the people's rule, not
    this module's."""
    parsed = parse_role(role, OPERATOR_ROLES)
    return await _issue(
        session,
        workspace,
        parsed,
        name=name,
        default_name=default_name,
        actor=actor,
        person_id=person_id,
    )


async def _issue(
    session: AsyncSession,
    workspace: Workspace,
    role: Role,
    *,
    name: str | None,
    default_name: str,
    actor: Actor,
    token: str | None = None,
    person_id: str | None = None,
    pages: tuple[str, ...] | None = None,
    from_env: str | None = None,
) -> IssuedKey:
    if name is not None and len(name.strip()) > 200:
        raise ValidationFailed("a key's name is at most 200 characters", details={"field": "name"})
    token = token or tokens.new_api_key()
    key = ApiKey(
        id=new_id("key"),
        workspace_id=workspace.id,
        name=(name or "").strip() or default_name[:200],
        role=role.value,
        prefix=tokens.visible_prefix(token),
        key_hash=tokens.digest(token),
        person_id=person_id,
        pages=_stored_pages(pages),
        from_env=from_env,
    )
    await ApiKeyRepository(session).add(key)
    # A cache may remember that no key had this token (one given from elsewhere).
    announce(session, PRINCIPALS)
    # The token and its digest stay out of the log: the prefix is enough to tell keys apart.
    changes: dict[str, tuple[object, object]] = {
        "name": (None, key.name),
        "role": (None, key.role),
        "prefix": (None, key.prefix),
    }
    if person_id is not None:
        changes["person_id"] = (None, person_id)
    if pages is not None:
        changes["pages"] = (None, list(pages))
    if from_env is not None:
        changes["from_env"] = (None, from_env)
    await audit.record(session, workspace.id, actor, "api_key.created", "api_key", key.id, changes)
    return IssuedKey(key=key, workspace=workspace, token=token)


async def keys_of(session: AsyncSession, workspace_id: str, role: Role) -> list[ApiKey]:
    """The workspace's keys of ``role``, revoked ones too, oldest first."""
    return await ApiKeyRepository(session).of_role(workspace_id, role.value)


async def key_of(session: AsyncSession, workspace_id: str, key_id: str, role: Role) -> ApiKey:
    # PostgreSQL cannot hold NUL in text, so no row has it in its id: answer as for any other.
    key = (
        None
        if "\x00" in key_id
        else await ApiKeyRepository(session).of_workspace(workspace_id, key_id, role.value)
    )
    if key is None:
        raise NotFound(f"no {role.value} key {key_id}", resource="api_key")
    return key


async def list_keys(
    session: AsyncSession, workspace_slug: str | None = None
) -> list[tuple[ApiKey, Workspace]]:
    workspace_id = None
    if workspace_slug is not None:
        workspace_id = (await workspaces.require(session, workspace_slug)).id
    return await ApiKeyRepository(session).with_workspaces(workspace_id)


async def revoke_key(session: AsyncSession, ident: str, *, actor: Actor | None = None) -> ApiKey:
    """Revoke by key id (``key_...``) or by its visible prefix; a revoked key stays as it was."""
    matches = await ApiKeyRepository(session).get_by_id_or_prefix(ident)
    if not matches:
        raise NotFound(f"no API key with id or prefix '{ident}'")
    if len(matches) > 1:
        raise Conflict(f"'{ident}' matches {len(matches)} keys; revoke by key id")
    return await _revoke(session, matches[0], actor or Actor.cli())


async def revoke_key_of(
    session: AsyncSession, workspace_id: str, key_id: str, role: Role, actor: Actor
) -> ApiKey:
    """Revoke a key of the workspace; revoking it again changes nothing."""
    return await _revoke(session, await key_of(session, workspace_id, key_id, role), actor)


async def _revoke(session: AsyncSession, key: ApiKey, actor: Actor) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
        announce(session, PRINCIPALS)
        await audit.record(
            session,
            key.workspace_id,
            actor,
            "api_key.revoked",
            "api_key",
            key.id,
            {"revoked_at": (None, key.revoked_at)},
        )
    return key


# ------------------------------------------------------------------------ people's tokens


@dataclass(frozen=True)
class TokenPage:
    tokens: list[ApiKey]
    has_more: bool  # more tokens follow the last one


async def tokens_of(
    session: AsyncSession,
    workspace_id: str,
    *,
    person_id: str | None = None,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> TokenPage:
    """Up to ``limit`` of the workspace's people's tokens (of one person, if given), revoked
    ones too, newest first, after ``after``."""
    rows = await ApiKeyRepository(session).tokens(
        workspace_id, person_id=person_id, limit=limit + 1, after=after
    )
    found, more = cursors.cut(rows, limit)
    return TokenPage(tokens=found, has_more=more)


async def token_of(session: AsyncSession, workspace_id: str, key_id: str) -> ApiKey:
    """A person's token of the workspace; 404 ``token_not_found`` for any other key."""
    key = None if "\x00" in key_id else await ApiKeyRepository(session).token(workspace_id, key_id)
    if key is None:
        raise NotFound(f"no token {key_id} in this workspace", resource="token")
    return key


async def revoke_token(
    session: AsyncSession, workspace_id: str, key_id: str, actor: Actor
) -> ApiKey:
    """Revoke a person's token; revoking it again changes nothing."""
    return await _revoke(session, await token_of(session, workspace_id, key_id), actor)


async def rotate_token(
    session: AsyncSession, workspace: Workspace, key_id: str, actor: Actor
) -> IssuedKey:
    """A new secret for a person's token, in the answer only; the old one stops working when
    the transaction commits (every cache of principals forgets it then)."""
    key = await token_of(session, workspace.id, key_id)
    if key.revoked_at is not None:
        raise Conflict("this token is revoked; create a new one instead", details={"id": key_id})
    return await _rotate(session, workspace, key, actor)


async def _rotate(
    session: AsyncSession, workspace: Workspace, key: ApiKey, actor: Actor
) -> IssuedKey:
    token = tokens.new_api_key()
    before = key.prefix
    key.key_hash = tokens.digest(token)
    key.prefix = tokens.visible_prefix(token)
    key.last_used_at = None
    await session.flush()
    announce(session, PRINCIPALS)
    await audit.record(
        session,
        workspace.id,
        actor,
        "api_key.rotated",
        "api_key",
        key.id,
        {"prefix": (before, key.prefix)},
    )
    return IssuedKey(key=key, workspace=workspace, token=token)


async def set_role_of_person_tokens(
    session: AsyncSession, workspace_id: str, person_id: str, role: str
) -> None:
    """A person's role changed: their tokens carry the new one from the next request on (a
    marketing person's are revoked: they hold none)."""
    if role == Role.MARKETING.value:
        await revoke_tokens_of_person(session, workspace_id, person_id, Actor.system("role"))
        return
    parsed = parse_role(role, OPERATOR_ROLES)
    await ApiKeyRepository(session).set_role_of_person(workspace_id, person_id, parsed.value)
    # Principals in memory carry the role they were read with.
    announce(session, PRINCIPALS)


async def revoke_tokens_of_person(
    session: AsyncSession, workspace_id: str, person_id: str, actor: Actor
) -> int:
    """Revoke every token of a person; how many were still in use."""
    found = await ApiKeyRepository(session).active_tokens_of_person(workspace_id, person_id)
    for key in found:
        await _revoke(session, key, actor)
    return len(found)


# ------------------------------------------------------------------------ marketing keys


async def change_key(
    session: AsyncSession,
    workspace_id: str,
    key_id: str,
    role: Role,
    actor: Actor,
    *,
    name: str | msgspec.UnsetType = msgspec.UNSET,
    pages: Sequence[str] | msgspec.UnsetType | None = msgspec.UNSET,
) -> ApiKey:
    """Rename a key of the workspace, or (a marketing key's) set its pages (None: back to the
    default ones). Effective from the next request: every cache of principals forgets it."""
    key = await key_of(session, workspace_id, key_id, role)
    if key.revoked_at is not None:
        raise Conflict("this key is revoked; create a new one instead", details={"id": key_id})
    changes: dict[str, tuple[object, object]] = {}
    if not isinstance(name, msgspec.UnsetType):
        cleaned = name.strip()
        if not cleaned or len(cleaned) > 200:
            raise ValidationFailed("a key's name is 1-200 characters", details={"field": "name"})
        if cleaned != key.name:
            changes["name"] = (key.name, cleaned)
            key.name = cleaned
    if not isinstance(pages, msgspec.UnsetType):
        before = pages_of_key(key)
        after = _check_pages_for(Role(key.role), pages) if pages is not None else None
        if after != before:
            changes["pages"] = (
                None if before is None else list(before),
                None if after is None else list(after),
            )
            key.pages = _stored_pages(after)
    if changes:
        await session.flush()
        announce(session, PRINCIPALS)
        await audit.record(
            session, workspace_id, actor, "api_key.updated", "api_key", key.id, changes
        )
    return key


async def regenerate_key(
    session: AsyncSession, workspace: Workspace, key_id: str, role: Role, actor: Actor
) -> IssuedKey:
    """A new secret for a key of the workspace, in the answer only; the old one stops working
    when the transaction commits."""
    key = await key_of(session, workspace.id, key_id, role)
    if key.revoked_at is not None:
        raise Conflict("this key is revoked; create a new one instead", details={"id": key_id})
    return await _rotate(session, workspace, key, actor)


# ------------------------------------------------------------------- keys from the environment

# The variables PulseGate's deployments set, and the role of the key each holds.
ENVIRONMENT_KEYS: tuple[tuple[str, Role], ...] = (
    ("ANALYTICS_API_KEY", Role.ADMIN),
    ("ANALYTICS_MARKETING_API_KEY", Role.MARKETING),
)


async def has_environment_keys(session: AsyncSession) -> bool:
    """Whether a key read from the environment is still accepted."""
    return await ApiKeyRepository(session).any_active_from_env()


async def sync_environment_keys(
    session: AsyncSession, values: dict[str, str | None], workspace_slug: str
) -> list[str]:
    """Make the keys of the environment (``values``: variable name to key, or None when
    unset) what the database accepts: each set variable's key is a key of its role in the
    workspace ``workspace_slug`` (stored as a digest, like any key), a changed value replaces
    the key read before, an unset variable's key is revoked. Running it again with the same
    values changes nothing. Returns what it did, for the log."""
    repo = ApiKeyRepository(session)
    done: list[str] = []
    for variable, role in ENVIRONMENT_KEYS:
        value = (values.get(variable) or "").strip() or None
        current = await repo.from_env(variable)
        digest = tokens.digest(value) if value is not None else None
        for key in current:
            if key.key_hash != digest and key.revoked_at is None:
                await _revoke(session, key, Actor.system("environment"))
                done.append(f"revoked the key {key.id} of {variable}")
        if value is None:
            continue
        check_given_key(value)
        existing = await repo.find_by_hash(tokens.digest(value))
        if existing is not None:
            if existing.from_env == variable and existing.revoked_at is not None:
                # The variable holds a value it held before: accept it again.
                existing.revoked_at = None
                await session.flush()
                announce(session, PRINCIPALS)
                done.append(f"accepted the key {existing.id} of {variable} again")
            continue
        workspace, _ = await workspaces.get_or_create(
            session, workspace_slug, actor=Actor.system("environment")
        )
        issued = await _issue(
            session,
            workspace,
            role,
            name=variable,
            default_name=variable,
            actor=Actor.system("environment"),
            token=value,
            from_env=variable,
        )
        done.append(f"accepted {variable} as the {role.value} key {issued.key.id}")
    return done


# ---------------------------------------------------------------------------- checking


async def authenticate(session: AsyncSession, token: str | None) -> Principal:
    if not token:
        raise Unauthorized("missing API key: send it in the X-API-KEY header")
    found = await ApiKeyRepository(session).find_active_by_hash(tokens.digest(token.strip()))
    if found is None:
        raise Unauthorized("invalid or revoked API key")
    key, workspace = found
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > _TOUCH_EVERY:
        await ApiKeyRepository(session).touch(key.id, now)
    role = Role(key.role)
    return Principal(
        workspace=workspace,
        key_id=key.id,
        role=role,
        person_id=key.person_id,
        pages=pages_of_key(key) if role is Role.MARKETING else None,
    )


async def site_principal(session: AsyncSession, workspace_id: str) -> Principal:
    """The caller behind a site's own form (siteKey and formId from an allowed page): no key,
    the rights of an integration key in the site's workspace. Kept in memory with the site
    (``sites.cache``), so it is made whether or not the workspace is closed: the capture
    refuses a closed workspace's submissions when it checks who sends them."""
    workspace = await workspaces.get(session, workspace_id)
    return Principal(workspace=workspace, key_id="", role=Role.INTEGRATION)
