"""Normalising and hashing personal data the way each ad platform documents it.

Every platform matches on the SHA-256 (lowercase hex) of a normalised value, and each
normalises in its own way. Google and Meta differ most: Google wants a phone in E.164 *with*
its ``+`` and, for Gmail addresses, the dots of the local part removed; Meta wants a phone as
digits only and an email merely trimmed and lowercased. So each rule is a function named by its
platform; the tests hold the platforms' own documented examples as golden vectors. Microsoft,
TikTok, LinkedIn, Reddit and Snapchat share the simpler rules at the end.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Literal

# How Google's email rule treats the local part (before the ``@``):
# "gmail": remove dots only for gmail.com and googlemail.com (the Google Ads API guide and the
#          Campaign Manager 360 guide); "all_domains": remove dots and plus signs for every
#          domain (what Google's current Python sample for enhanced conversions for leads does).
GoogleEmailRule = Literal["gmail", "all_domains"]
GOOGLE_EMAIL_RULES: tuple[str, ...] = ("gmail", "all_domains")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(value: str) -> str:
    """SHA-256 of the UTF-8 bytes of ``value``, as lowercase hex."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isascii() and ch.isdigit())


# Google -------------------------------------------------------------------------------------


def google_email(email: str | None, rule: GoogleEmailRule = "gmail") -> str | None:
    """Trim, lowercase; then remove dots from the local part of a Gmail address (``rule
    "gmail"``), or dots and plus signs from the local part of any address (``"all_domains"``).
    None for an empty value or one without a local part and a domain."""
    if email is None:
        return None
    value = email.strip().lower()
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        return None
    if rule == "all_domains":
        local = local.replace(".", "").replace("+", "")
    elif domain in _GMAIL_DOMAINS:
        local = local.replace(".", "")
    if not local:
        return None
    return f"{local}@{domain}"


def google_phone(phone: str | None) -> str | None:
    """E.164 with its leading ``+`` (``+14155550123``): the stored number's digits after a
    ``+``. A number not written with its country code (no ``+`` or ``00``) cannot be made E.164
    here, so it gives None rather than a wrong hash."""
    if phone is None:
        return None
    value = phone.strip()
    if value.startswith("00"):
        value = "+" + value[2:]
    if not value.startswith("+"):
        return None
    digits = _digits(value)
    if not 7 <= len(digits) <= 15:
        return None
    return f"+{digits}"


def google_hashed_email(email: str | None, rule: GoogleEmailRule = "gmail") -> str | None:
    normalised = google_email(email, rule)
    return None if normalised is None else sha256_hex(normalised)


def google_hashed_phone(phone: str | None) -> str | None:
    normalised = google_phone(phone)
    return None if normalised is None else sha256_hex(normalised)


# Meta ---------------------------------------------------------------------------------------


def meta_email(email: str | None) -> str | None:
    """Trim leading and trailing spaces and lowercase (Meta's ``em``)."""
    if email is None:
        return None
    value = email.strip().lower()
    return value if "@" in value else None


def meta_phone(phone: str | None) -> str | None:
    """Digits only, without symbols, letters or leading zeros, country code included (Meta's
    ``ph``): ``+1 (650) 555-1212`` gives ``16505551212``. A number written in ``00`` form loses
    its ``00`` like any leading zero. A number whose country code is unknown (no ``+``, no
    ``00``) is sent as given, since Meta asks for the code but only the caller knows it."""
    if phone is None:
        return None
    digits = _digits(phone).lstrip("0")
    return digits or None


def meta_name(name: str | None) -> str | None:
    """Lowercase with no punctuation, in UTF-8 (Meta's ``fn`` and ``ln``): ``Valéry`` gives
    ``valéry``; letters outside a-z are kept, as Meta accepts them UTF-8 encoded."""
    if name is None:
        return None
    value = unicodedata.normalize("NFC", name.strip().lower())
    kept = "".join(ch for ch in value if not unicodedata.category(ch).startswith(("P", "S")))
    kept = " ".join(kept.split())
    return kept or None


def meta_hashed(value: str | None) -> str | None:
    """The hash Meta expects of an already normalised value."""
    return None if value is None else sha256_hex(value)


# Microsoft, TikTok, LinkedIn, Reddit and Snapchat -------------------------------------------


def normal_email(email: str) -> str:
    """An email as TikTok, LinkedIn, Reddit and Snapchat ask for it before hashing: spaces
    around it removed, lowercased; nothing else changed (none of them removes dots)."""
    return email.strip().lower()


def phone_digits(phone_e164: str) -> str:
    """A phone number as digits only, country code first, no leading ``+``, ``00`` or ``0``
    (Snapchat's rule)."""
    digits = re.sub(r"\D", "", phone_e164)
    if phone_e164.strip().startswith("00"):
        digits = digits[2:]
    return digits.lstrip("0")


def phone_plus_e164(phone_e164: str) -> str:
    """A phone number in E.164 with its ``+`` (TikTok's rule: ``+`` and digits only)."""
    return "+" + phone_digits(phone_e164)


def hashed(value: str) -> str:
    """SHA-256 of an already normalised ``value``, unless it already is a SHA-256 hex."""
    return value if _SHA256_HEX.match(value) else sha256_hex(value)
