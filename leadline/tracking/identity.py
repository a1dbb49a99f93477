"""Who a visit's visitor is: the Consent Mode flags it carries, then an id the browser keeps
(or a fingerprint's), or without consent a cookieless id that changes every day."""

from __future__ import annotations

import hashlib
import hmac
import re

import msgspec

from leadline.errors import ValidationFailed
from leadline.tracking.schemas import Flag, VisitStart

# An id the browser may keep for itself.
VISITOR_ID = re.compile(r"^[A-Za-z0-9_.-]{8,64}$")


def cookieless_visitor(secret: str, site_id: str, ip: str, user_agent: str, day: str) -> str:
    """The visitor of a cookieless visit: the same browser on the same site and day maps to
    the same id, and no id can be linked to another day's (the salt changes every day and is
    never stored)."""
    salt = hmac.new(secret.encode(), f"visitor-salt:{day}".encode(), hashlib.sha256).digest()
    digest = hashlib.sha256(salt + f"{site_id}|{ip}|{user_agent}".encode()).hexdigest()
    return "anon_" + digest[:32]


def consent_flags(
    start: VisitStart, *, dnt: bool = False, gpc: bool = False
) -> tuple[dict[str, bool | None], str]:
    """The four Consent Mode flags of a visit and where they came from. ``dnt`` and ``gpc`` are
    privacy signals the browser sent and the site honours: Do Not Track refuses everything,
    Global Privacy Control refuses the three ad flags; either overrides what the page said."""
    flags, source = _stated_consent(start)
    if dnt:
        return dict.fromkeys(_CONSENT_NAMES, False), "dnt"
    if gpc:
        return {**flags, **dict.fromkeys(_AD_FLAGS, False)}, "gpc"
    return flags, source


def _stated_consent(start: VisitStart) -> tuple[dict[str, bool | None], str]:
    consent = start.consent
    if consent is None:
        return dict.fromkeys(_CONSENT_NAMES), "none"
    mode = (consent.mode or "").lower()
    if mode == "granted":
        return dict.fromkeys(_CONSENT_NAMES, True), consent.source or "site"
    if mode == "denied":
        return dict.fromkeys(_CONSENT_NAMES, False), consent.source or "site"
    flags = {name: _flag(getattr(consent, name)) for name in _CONSENT_NAMES}
    return flags, consent.source or ("none" if all(v is None for v in flags.values()) else "manual")


def _flag(value: Flag) -> bool | None:
    if isinstance(value, str):  # the decoder let through only "granted" and "denied"
        return value == "granted"
    return value


_AD_FLAGS = ("ad_storage", "ad_user_data", "ad_personalization")
_CONSENT_NAMES = (*_AD_FLAGS, "analytics_storage")


# Where a change of consent reported by a page (a ``consent`` event) came from.
UPDATE_SOURCES = ("banner", "consent_mode", "tcf", "gpc", "dnt")


def consent_update(data: bytes) -> tuple[dict[str, bool], str]:
    """The flags a ``consent`` event reports (``{"ad_storage": "granted", ..., "source":
    "consent_mode"}``; ``"mode": "granted"`` or ``"denied"`` stands for all four) and its
    source (banner unless named). ValidationFailed when it names no flag, or a flag or a
    source this does not know."""
    found = msgspec.json.decode(data)
    source = found.get("source", "banner")
    if source not in UPDATE_SOURCES:
        raise ValidationFailed(
            f"the source of a consent event must be one of {', '.join(UPDATE_SOURCES)}"
        )
    flags: dict[str, bool] = {}
    mode = found.get("mode")
    if mode is not None:
        if mode not in ("granted", "denied"):
            raise ValidationFailed("the mode of a consent event must be granted or denied")
        flags = dict.fromkeys(_CONSENT_NAMES, mode == "granted")
    for name in _CONSENT_NAMES:
        value = found.get(name)
        if value is None:
            continue
        if isinstance(value, bool):
            flags[name] = value
        elif value in ("granted", "denied"):
            flags[name] = value == "granted"
        else:
            raise ValidationFailed(
                f"{name} in a consent event must be true, false, granted or denied"
            )
    if not flags:
        raise ValidationFailed(
            f"a consent event must name one of {', '.join(_CONSENT_NAMES)}, or a mode"
        )
    return flags, source


def fingerprint_ids(site_id: str, fingerprint: str, user_agent: str) -> tuple[str, str]:
    """The visitor and device ids a fingerprint stands for on one site (reference 3.3, scoped
    to the site so that no id links a browser's visits to two sites)."""
    visitor = hashlib.sha256(f"visitor:{site_id}:{fingerprint}".encode()).hexdigest()
    device = hashlib.sha256(f"device:{site_id}:{user_agent}|{fingerprint}".encode()).hexdigest()
    return visitor, device
