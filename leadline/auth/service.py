"""Issuing, listing, revoking and checking API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.auth.repository import ApiKeyRepository
from leadline.auth.roles import MASKED_ROLES, ROLE_PERMISSIONS, Permission, Role
from leadline.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from leadline.kit import tokens
from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.models import ApiKey, Workspace
from leadline.workspaces import service as workspaces

# last_used_at is a hint, not a log: write it at most this often per key.
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key, its workspace and its role."""

    workspace: Workspace
    key_id: str
    role: Role

    @property
    def workspace_id(self) -> str:
        return self.workspace.id

    @property
    def masks_personal_data(self) -> bool:
        return self.role in MASKED_ROLES

    def require(self, permission: Permission) -> None:
        if permission not in ROLE_PERMISSIONS[self.role]:
            raise Forbidden(
                f"this API key's role ({self.role.value}) may not do this ({permission.value})",
                details={"role": self.role.value, "permission": permission.value},
            )


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ValidationFailed(
            f"unknown role '{value}'; use one of: {allowed}", details={"field": "role"}
        ) from None


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
) -> IssuedKey:
    parsed = parse_role(role)
    actor = actor or Actor.cli()
    workspace, _ = await workspaces.get_or_create(session, workspace_slug, actor=actor)
    token = tokens.new_api_key()
    key = ApiKey(
        id=new_id("key"),
        workspace_id=workspace.id,
        name=name or f"{parsed.value} key",
        role=parsed.value,
        prefix=tokens.visible_prefix(token),
        key_hash=tokens.digest(token),
    )
    await ApiKeyRepository(session).add(key)
    # The token and its digest stay out of the log: the prefix is enough to tell keys apart.
    await audit.record(
        session,
        workspace.id,
        actor,
        "api_key.created",
        "api_key",
        key.id,
        {"name": (None, key.name), "role": (None, key.role), "prefix": (None, key.prefix)},
    )
    return IssuedKey(key=key, workspace=workspace, token=token)


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
    key = matches[0]
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
        await audit.record(
            session,
            key.workspace_id,
            actor or Actor.cli(),
            "api_key.revoked",
            "api_key",
            key.id,
            {"revoked_at": (None, key.revoked_at)},
        )
    return key


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
    return Principal(workspace=workspace, key_id=key.id, role=Role(key.role))


async def site_principal(session: AsyncSession, workspace_id: str) -> Principal:
    """The caller behind a site's own form (siteKey and formId from an allowed page): no key,
    the rights of an integration key in the site's workspace."""
    workspace = await workspaces.get(session, workspace_id)
    return Principal(workspace=workspace, key_id="", role=Role.INTEGRATION)
