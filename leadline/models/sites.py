"""Sites that may send tracking data and leads, their domains, their forms' definitions, and
the workspaces' address rules."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    Boolean,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base
from leadline.models.personal import PersonalData, not_personal


class IpRule(Base):
    """An address (or network, CIDR) whose form submissions a workspace treats apart:
    ``block`` (answered as usual, kept as ``blocked``, never a lead) or ``allow`` (the team's
    own and testers' addresses: kept as ``testing``, never a lead). An address is on one list
    at most."""

    __tablename__ = "ip_rules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(49))
    kind: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("workspace_id", "network"),)


class Site(Base):
    """A website of a workspace. Its ``site_key`` is public: it sits in the snippet, and only
    names the site; the Origin of each request must be one of the site's domains."""

    __tablename__ = "sites"
    __personal__: ClassVar[PersonalData] = not_personal(name="a site's name")

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    site_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Privacy signals the site honours: a browser sending Do Not Track is treated as having
    # refused all consent; one sending Global Privacy Control as having refused the ad flags.
    respect_dnt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    respect_gpc: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Whether a browser's fingerprint (sent only with analytics consent) may identify the
    # visitor and device.
    fingerprinting: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A deleted site keeps its visits, events and leads; its key no longer names it.
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class SiteDomain(Base):
    """A host a site's pages are served from: ``example.com``, or ``*.example.com`` for every
    subdomain."""

    __tablename__ = "site_domains"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))

    __table_args__ = (UniqueConstraint("site_id", "domain"),)


class SiteForm(Base):
    """A form of a site, as ``/form.js`` renders it: ``form_json`` is its definition (fields,
    submit label, thank-you page or message, consent text; see docs/forms.md), checked when it
    is saved. ``form_id`` is the site's own name for it, unique within the site."""

    __tablename__ = "site_forms"
    __personal__: ClassVar[PersonalData] = not_personal(name="a form's name")

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    form_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    form_json: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("site_id", "form_id"),)
