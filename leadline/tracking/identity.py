"""Who a visit's visitor is: the Consent Mode flags it carries, then an id the browser keeps
(or a fingerprint's), or without consent a cookieless id that changes every day."""

from __future__ import annotations

import hashlib
import hmac
import re

import msgspec

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


# What the source of a ``consent_update`` event is kept as in the consent ledger: the tracker
# says gcm (Google Consent Mode), tcf, gpp or manual (the page called setConsent); a page may
# also name banner, consent_mode, gpc or dnt itself.
_UPDATE_SOURCES = {
    "gcm": "consent_mode",
    "consent_mode": "consent_mode",
    "tcf": "tcf",
    "gpp": "gpp",
    "manual": "banner",
    "banner": "banner",
    "gpc": "gpc",
    "dnt": "dnt",
}


def consent_update(data: bytes) -> tuple[dict[str, bool], str] | None:
    """The flags a ``consent_update`` event reports and where they came from (see
    ``_UPDATE_SOURCES``; banner when unnamed or unknown), or None when it reports none.

    The tracker has sent this event for years (docs/tracker.md): whatever else it carries is
    never refused, it only adds nothing to the ledger. A flag is true or false (or Consent
    Mode's granted or denied); ``"mode": "granted"`` or ``"denied"`` stands for all four."""
    found = msgspec.json.decode(data)
    source = found.get("source")
    flags: dict[str, bool] = {}
    mode = found.get("mode")
    if mode in ("granted", "denied"):
        flags = dict.fromkeys(_CONSENT_NAMES, mode == "granted")
    for name in _CONSENT_NAMES:
        value = found.get(name)
        if isinstance(value, bool):
            flags[name] = value
        elif value in ("granted", "denied"):
            flags[name] = value == "granted"
    if not flags:
        return None
    return flags, _UPDATE_SOURCES.get(source, "banner") if isinstance(source, str) else "banner"


def fingerprint_ids(site_id: str, fingerprint: str, user_agent: str) -> tuple[str, str]:
    """The visitor and device ids a fingerprint stands for on one site (reference 3.3, scoped
    to the site so that no id links a browser's visits to two sites)."""
    visitor = hashlib.sha256(f"visitor:{site_id}:{fingerprint}".encode()).hexdigest()
    device = hashlib.sha256(f"device:{site_id}:{user_agent}|{fingerprint}".encode()).hexdigest()
    return visitor, device
