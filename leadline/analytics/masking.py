"""Email and phone as a masked caller (a marketing key) sees them: ``j***@example.com``,
``+316******78``. The leads feature masks them so in its own API; analytics shows them the
same way wherever it shows them, so one rule holds for every product."""

from __future__ import annotations

from leadline.leads.service import mask_email, mask_phone

__all__ = ["mask_email", "mask_phone", "shown_email", "shown_phone"]


def shown_email(email: str | None, masked: bool) -> str | None:
    """``email`` as the caller may see it."""
    return mask_email(email) if masked else email


def shown_phone(phone: str | None, masked: bool) -> str | None:
    """``phone`` as the caller may see it."""
    return mask_phone(phone) if masked else phone
