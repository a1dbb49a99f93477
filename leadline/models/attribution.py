"""What a visit and a lead both carry: where the visitor came from (the ad click IDs, UTM
parameters, landing page) and the consent they gave. The names are defined here once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

# Click identifiers the ad platforms hand out, in the order the Octanist docs list them.
CLICK_ID_FIELDS: tuple[str, ...] = (
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "ga4cid",
    "ga4sid",
    "fbc",
    "fbp",
    "msclkid",
    "ttclid",
    "twclid",
    "rdt_cid",
    "sccid",
    "li_fat_id",
    "epik",
)

UTM_FIELDS: tuple[str, ...] = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "utm_id",
)

# Which platform a click ID belongs to, in order of precedence when a lead carries several.
CLICK_PLATFORMS: tuple[tuple[str, str], ...] = (
    ("gclid", "googleads"),
    ("gbraid", "googleads"),
    ("wbraid", "googleads"),
    ("dclid", "googleads"),
    ("fbc", "meta"),
    ("msclkid", "microsoftads"),
    ("ttclid", "tiktok"),
    ("li_fat_id", "linkedin"),
    ("twclid", "x"),
    ("rdt_cid", "reddit"),
    ("sccid", "snapchat"),
    ("epik", "pinterest"),
)
CONSENT_FIELDS: tuple[str, ...] = (
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
)


class Attribution:
    """Columns a visit and a lead both carry: where the visitor came from, and consent."""

    # The site's origin (scheme, host, port): short enough to index on every database.
    website: Mapped[str | None] = mapped_column(String(512), nullable=True)
    path: Mapped[str | None] = mapped_column(String(2048), nullable=True)

    gclid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    dclid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    gbraid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    wbraid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    ga4cid: Mapped[str | None] = mapped_column(String(256), nullable=True)
    ga4sid: Mapped[str | None] = mapped_column(String(256), nullable=True)
    fbc: Mapped[str | None] = mapped_column(String(512), nullable=True)
    fbp: Mapped[str | None] = mapped_column(String(512), nullable=True)
    msclkid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    ttclid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    twclid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    rdt_cid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    sccid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    li_fat_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    epik: Mapped[str | None] = mapped_column(String(512), nullable=True)

    utm_source: Mapped[str | None] = mapped_column(String(512), nullable=True)
    utm_medium: Mapped[str | None] = mapped_column(String(512), nullable=True)
    utm_campaign: Mapped[str | None] = mapped_column(String(512), nullable=True)
    utm_term: Mapped[str | None] = mapped_column(String(512), nullable=True)
    utm_content: Mapped[str | None] = mapped_column(String(512), nullable=True)
    utm_id: Mapped[str | None] = mapped_column(String(512), nullable=True)

    ad_storage: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    ad_user_data: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    ad_personalization: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    analytics_storage: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    # When the ad click happened (the landing), which bounds how long a click ID can be uploaded.
    clicked_at: Mapped[datetime | None] = mapped_column(nullable=True)
