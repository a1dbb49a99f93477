"""Workspace rules: slugs, the default workspace, the instance secret, and a workspace's life:
closing it, restoring it within its retention period, and what is due for purging."""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.errors import (
    NotFound,
    RestorePeriodOver,
    ValidationFailed,
    WorkspaceClosed,
    WorkspaceNotClosed,
)
from leadline.kit.changes import PRINCIPALS, SITES, announce
from leadline.kit.ids import new_id
from leadline.kit.time import iso_millis, utcnow
from leadline.models import Workspace
from leadline.workspaces.repository import WorkspaceRepository

ACTIVE, CLOSED = "active", "closed"

DEFAULT_SLUG = "default"
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def validate_slug(slug: str) -> str:
    if not _SLUG.match(slug):
        raise ValidationFailed(
            "workspace slug must be 1-64 lowercase letters, digits or dashes",
            details={"field": "workspace", "value": slug},
        )
    return slug


async def get_or_create(
    session: AsyncSession, slug: str, *, actor: Actor | None = None
) -> tuple[Workspace, bool]:
    repo = WorkspaceRepository(session)
    existing = await repo.get_by_slug(validate_slug(slug))
    if existing is not None:
        return existing, False
    workspace = Workspace(id=new_id("ws"), slug=slug, name=slug, allow_bulk_updates=False)
    await repo.add(workspace)
    await audit.record(
        session,
        workspace.id,
        actor or Actor.cli(),
        "workspace.created",
        "workspace",
        workspace.id,
        {"slug": (None, slug), **audit.diff({}, _settings_of(workspace))},
    )
    return workspace, True


async def require(session: AsyncSession, slug: str) -> Workspace:
    """The workspace ``slug`` names; NotFound when there is none."""
    workspace = await WorkspaceRepository(session).get_by_slug(slug)
    if workspace is None:
        raise NotFound(f"no workspace '{slug}'", details={"field": "workspace"})
    return workspace


async def get(session: AsyncSession, workspace_id: str) -> Workspace:
    """The workspace with this id; NotFound when there is none."""
    workspace = await WorkspaceRepository(session).get(workspace_id)
    if workspace is None:
        raise NotFound(f"no workspace with the id {workspace_id}")
    return workspace


async def is_empty(session: AsyncSession) -> bool:
    return await WorkspaceRepository(session).count() == 0


async def stored_secret_key(session: AsyncSession) -> str | None:
    """The secret generated on first start and kept in the database, if there is one."""
    return await WorkspaceRepository(session).get_setting("secret_key")


async def ensure_secret_key(session: AsyncSession, configured: str | None) -> str:
    """The configured secret, else the one generated on first start and kept in the database."""
    if configured:
        return configured
    repo = WorkspaceRepository(session)
    stored = await repo.get_setting("secret_key")
    if stored:
        return stored
    generated = secrets.token_urlsafe(48)
    await repo.put_setting("secret_key", generated)
    return generated


_CURRENCY = re.compile(r"^[A-Z]{3}$")


# What a lead from an erased person meets (docs/privacy.md).
ERASED_RETURNS = ("accept", "refuse")


def _settings_of(workspace: Workspace) -> dict[str, object]:
    return {
        "auto_assign": workspace.auto_assign,
        "auto_reassign_minutes": workspace.auto_reassign_minutes,
        "erased_returns": workspace.erased_returns,
        "name": workspace.name,
        "allow_bulk_updates": workspace.allow_bulk_updates,
        "leads_limit": workspace.leads_limit,
        "default_currency": workspace.default_currency,
        "widget_identity_verification": workspace.widget_identity_verification,
        "widget_identity_generation": workspace.widget_identity_generation,
    }


async def list_workspaces(session: AsyncSession) -> list[Workspace]:
    return await WorkspaceRepository(session).all()


async def update_workspace(
    session: AsyncSession,
    slug: str,
    *,
    name: str | None = None,
    allow_bulk_updates: bool | None = None,
    leads_limit: int | None = None,
    clear_leads_limit: bool = False,
    default_currency: str | None = None,
    auto_assign: bool | None = None,
    auto_reassign_minutes: int | None = None,
    clear_auto_reassign: bool = False,
    erased_returns: str | None = None,
    widget_identity_verification: bool | None = None,
    rotate_widget_identity: bool = False,
    actor: Actor | None = None,
) -> Workspace:
    """Change a workspace's settings; only the values given change."""
    workspace = await require(session, slug)
    before = _settings_of(workspace)
    if name is not None:
        if not name.strip() or len(name) > 200:
            raise ValidationFailed("name must be 1-200 characters", details={"field": "name"})
        workspace.name = name.strip()
    if allow_bulk_updates is not None:
        workspace.allow_bulk_updates = allow_bulk_updates
    if leads_limit is not None:
        if leads_limit < 0:
            raise ValidationFailed(
                "leads limit must be 0 or more", details={"field": "leads_limit"}
            )
        workspace.leads_limit = leads_limit
    if clear_leads_limit:
        workspace.leads_limit = None
    if default_currency is not None:
        code = default_currency.strip().upper()
        if not _CURRENCY.match(code):
            raise ValidationFailed(
                "currency must be a three-letter ISO 4217 code such as EUR or USD",
                details={"field": "currency"},
            )
        workspace.default_currency = code
    if auto_assign is not None:
        workspace.auto_assign = auto_assign
    if auto_reassign_minutes is not None:
        if not 1 <= auto_reassign_minutes <= 10_080:
            raise ValidationFailed(
                "auto-reassign minutes must be 1-10080 (a week)",
                details={"field": "auto_reassign_minutes"},
            )
        workspace.auto_reassign_minutes = auto_reassign_minutes
    if clear_auto_reassign:
        workspace.auto_reassign_minutes = None
    if erased_returns is not None:
        if erased_returns not in ERASED_RETURNS:
            raise ValidationFailed(
                f"erased returns must be one of: {', '.join(ERASED_RETURNS)}",
                details={"field": "erased_returns"},
            )
        workspace.erased_returns = erased_returns
    if widget_identity_verification is not None:
        workspace.widget_identity_verification = widget_identity_verification
    if rotate_widget_identity:
        workspace.widget_identity_generation = (workspace.widget_identity_generation or 0) + 1
    await session.flush()
    # API keys' principals carry their workspace: those kept in memory must be read again.
    announce(session, PRINCIPALS)
    changes = audit.diff(before, _settings_of(workspace))
    if changes:
        await audit.record(
            session,
            workspace.id,
            actor or Actor.cli(),
            "workspace.updated",
            "workspace",
            workspace.id,
            changes,
        )
    return workspace


async def count_new_leads(session: AsyncSession, workspace_id: str, n: int = 1) -> None:
    """Keep the workspace's lead count; call in the transaction that adds the leads."""
    await WorkspaceRepository(session).add_to_lead_count(workspace_id, n)


async def lead_count(session: AsyncSession, workspace_id: str) -> int:
    return await WorkspaceRepository(session).lead_count(workspace_id)


# ---------------------------------------------------------------------------- lifecycle


def refuse_writes(workspace: Workspace) -> None:
    """WorkspaceClosed when ``workspace`` is closed: every surface asks before a write."""
    if workspace.status == CLOSED:
        until = f" until {iso_millis(workspace.purge_after)}" if workspace.purge_after else ""
        raise WorkspaceClosed(
            f"this workspace is closed and takes no changes; its owner may restore it{until}",
            details={"status": CLOSED},
        )


@dataclass(frozen=True, slots=True)
class ArchiveStatus:
    """Where a workspace stands: active, or closed with the time its data is purged after,
    the days left until then (rounded up) and whether it may still be restored."""

    status: str
    closed_at: datetime | None
    purge_after: datetime | None
    days_left: int | None
    restorable: bool


def archive_status(workspace: Workspace, now: datetime | None = None) -> ArchiveStatus:
    now = now or utcnow()
    if workspace.status != CLOSED or workspace.purge_after is None:
        return ArchiveStatus(workspace.status, None, None, None, restorable=False)
    left = (workspace.purge_after - now).total_seconds()
    return ArchiveStatus(
        status=CLOSED,
        closed_at=workspace.closed_at,
        purge_after=workspace.purge_after,
        days_left=max(0, math.ceil(left / 86400)),
        restorable=left > 0,
    )


async def _locked(session: AsyncSession, workspace_id: str) -> Workspace:
    workspace = await WorkspaceRepository(session).get_for_update(workspace_id)
    if workspace is None:
        raise NotFound(f"no workspace with the id {workspace_id}")
    return workspace


def _changed(session: AsyncSession) -> None:
    # Keys' principals carry their workspace, and sites in memory their workspace's status:
    # both must be read again once the change commits.
    announce(session, PRINCIPALS)
    announce(session, SITES)


async def close(
    session: AsyncSession, workspace_id: str, *, retention_days: int, actor: Actor
) -> ArchiveStatus:
    """Close the workspace: from now on it refuses writes everywhere, keeps its data for
    reading for ``retention_days``, and is purged after. Closing it again is a conflict."""
    workspace = await _locked(session, workspace_id)
    refuse_writes(workspace)
    now = utcnow()
    workspace.status = CLOSED
    workspace.closed_at = now
    workspace.purge_after = now + timedelta(days=retention_days)
    await session.flush()
    _changed(session)
    await audit.record(
        session,
        workspace.id,
        actor,
        "workspace.closed",
        "workspace",
        workspace.id,
        {
            "status": (ACTIVE, CLOSED),
            "closed_at": (None, workspace.closed_at),
            "purge_after": (None, workspace.purge_after),
        },
    )
    return archive_status(workspace, now)


async def restore(session: AsyncSession, workspace_id: str, *, actor: Actor) -> ArchiveStatus:
    """Reopen a closed workspace before its retention period ends; after it, or for a
    workspace that is not closed, a conflict."""
    workspace = await _locked(session, workspace_id)
    now = utcnow()
    if workspace.status != CLOSED:
        raise WorkspaceNotClosed(
            "this workspace is not closed: there is nothing to restore",
            details={"status": workspace.status},
        )
    if workspace.purge_after is not None and workspace.purge_after <= now:
        raise RestorePeriodOver(
            f"this workspace's retention period ended at {iso_millis(workspace.purge_after)}; "
            "its data is being purged and it can no longer be restored",
            details={"purge_after": iso_millis(workspace.purge_after)},
        )
    before = {"closed_at": workspace.closed_at, "purge_after": workspace.purge_after}
    workspace.status = ACTIVE
    workspace.closed_at = None
    workspace.purge_after = None
    await session.flush()
    _changed(session)
    await audit.record(
        session,
        workspace.id,
        actor,
        "workspace.restored",
        "workspace",
        workspace.id,
        {
            "status": (CLOSED, ACTIVE),
            "closed_at": (before["closed_at"], None),
            "purge_after": (before["purge_after"], None),
        },
    )
    return archive_status(workspace, now)


async def due_for_purge(session: AsyncSession, now: datetime, limit: int = 100) -> list[Workspace]:
    """Closed workspaces whose retention period ended by ``now``."""
    return await WorkspaceRepository(session).due_for_purge(now, limit)


async def delete_if_due(session: AsyncSession, workspace_id: str, now: datetime) -> bool:
    """The last step of a purge: the workspace's row, and with it every row that hangs from
    it by ON DELETE CASCADE (its audit log too), if it is still closed and due."""
    deleted = await WorkspaceRepository(session).delete_if_due(workspace_id, now)
    if deleted:
        _changed(session)
    return deleted
