"""Daily ad spend per platform and campaign."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import (
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base
from leadline.models.personal import PersonalData, not_personal


class AdSpend(Base):
    """Daily spend per platform and campaign, loaded from the ad platforms' exports."""

    __tablename__ = "ad_spend"
    __personal__: ClassVar[PersonalData] = not_personal(campaign_name="an ad campaign's name")

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    platform: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[str] = mapped_column(String(128), default="")
    campaign_name: Mapped[str | None] = mapped_column(String(512), nullable=True)
    spend: Mapped[Decimal] = mapped_column()
    currency: Mapped[str] = mapped_column(String(3))
    clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    impressions: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("workspace_id", "day", "platform", "campaign_id"),)
