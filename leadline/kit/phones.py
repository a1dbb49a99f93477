"""The forms a phone number is stored in."""

from __future__ import annotations

import phonenumbers


def e164(raw: str) -> str | None:
    """``raw`` in E.164 when it is a valid international number; None otherwise."""
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_forms(raw: str) -> list[str]:
    """A phone as written and, when it is valid, in E.164 (leads keep both, submissions the
    second): every form a person's phone may be stored in."""
    written = raw.strip()
    return sorted({form for form in (written, e164(written)) if form})
