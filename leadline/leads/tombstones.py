"""Tombstones: what is kept of an erased person's email and phone, and how they are
recognised when they come back.

A tombstone is the HMAC-SHA256 of ``kind:value`` (the lower-cased email, or the phone in E.164
when it parses, else its digits) keyed with the instance's secret key, so it recognises a
returning person without keeping anything that could be read back as their address or
number.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

import phonenumbers

EMAIL, PHONE = "email", "phone"
_NOT_DIGITS = re.compile(r"[^0-9+]")


@dataclass(frozen=True, slots=True)
class Identity:
    """One way a person is matched: ``kind`` email or phone, ``value`` normalised."""

    kind: str
    value: str


def email_identity(email: str | None) -> Identity | None:
    cleaned = (email or "").strip().lower()
    return Identity(EMAIL, cleaned) if cleaned else None


def phone_identity(phone: str | None) -> Identity | None:
    raw = (phone or "").strip()
    if not raw:
        return None
    try:
        parsed = phonenumbers.parse(raw, None)
        if phonenumbers.is_valid_number(parsed):
            return Identity(
                PHONE, phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            )
    except phonenumbers.NumberParseException:
        pass
    digits = _NOT_DIGITS.sub("", raw)
    return Identity(PHONE, digits) if digits else None


def identities(email: str | None, phone: str | None) -> list[Identity]:
    return [found for found in (email_identity(email), phone_identity(phone)) if found]


def digest(key: str, identity: Identity) -> str:
    message = f"{identity.kind}:{identity.value}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
