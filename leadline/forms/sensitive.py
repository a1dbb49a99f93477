"""What a captured form never passes on: passwords, payment card data, captcha answers, CSRF
tokens and the pixel's own session field, whatever sends them.

The Octanist pixel's form capture (``/pf.js``) applies these rules in the browser, where it
also sees each control's type and ``autocomplete``; the server applies the name and value rules
again to whatever arrives, so a value of that kind is never stored even when a client of its
own sends one. ``SENSITIVE_NAME`` is written so that it reads the same in JavaScript: pf.js
carries the same pattern, and a test holds the two together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from leadline.errors import ValidationFailed

# Longest value kept (longer ones are cut), longest name, and the separator of a name's
# values when it has several (a checkbox group, a multiple select).
MAX_VALUE = 2000
MAX_NAME = 64
JOIN = " | "

# Applied to a field's name (and, in the browser, its id) in lower case with everything but
# letters and digits taken out: "cc-number", "Card Number" and "card_number" read alike.
SENSITIVE_NAME = re.compile(
    # passwords
    r"pass(word|wd|phrase)|^pass$|^pwd$"
    # payment cards: number, security code, expiry, holder
    r"|creditcard|debitcard|^card$|card(num|no|cvc|cvv|csc|code|exp|sec|holder|verif)"
    r"|^cc(num|exp|cvc|cvv|csc|name|type|given|family|additional)|cvc|cvv|^csc$"
    r"|exp(iry|iration|date)|^exp(month|year|mm|yy)"
    # captcha answers and tokens (reCAPTCHA, hCaptcha, Turnstile, Friendly Captcha, ALTCHA)
    r"|captcha|turnstile|altcha"
    # CSRF tokens (Django, Rails, Laravel, ASP.NET, WordPress, Magento, ...)
    r"|csrf|xsrf|token$|nonce|^formkey$"
    # the pixel's session field: it travels as sessionId
    r"|^octasid$"
)
# 13 to 19 digits, spaces or dashes between them. No card number starts with 0 (ISO/IEC 7812
# gives that first digit to no card issuer), and a telephone number dialled with 00 does.
_CARD_LIKE = re.compile(r"[1-9][0-9 -]*[0-9]")


def normal_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def is_sensitive_name(name: str) -> bool:
    return SENSITIVE_NAME.search(normal_name(name)) is not None


def luhn(digits: str) -> bool:
    total = 0
    for i, digit in enumerate(int(d) for d in reversed(digits)):
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def is_card_number(value: str) -> bool:
    """Whether a value looks like a payment card number: 13-19 digits (spaces and dashes
    between them allowed), not starting with 0, that pass the Luhn check."""
    value = value.strip()
    if not _CARD_LIKE.fullmatch(value):
        return False
    digits = value.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and luhn(digits)


def _text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValidationFailed(
        f"fields.{name}: a value must be a string, a number, a boolean or a list of them",
        details={"field": f"fields.{name}"},
    )


def kept_fields(raw: Mapping[str, Any]) -> dict[str, str]:
    """A form's fields without what is never kept: sensitive names, values that look like a
    card number, empty values. Values are trimmed, a list's joined with " | ", and each cut
    to ``MAX_VALUE`` characters; names are trimmed and cut to ``MAX_NAME``."""
    kept: dict[str, str] = {}
    for raw_name, value in raw.items():
        name = str(raw_name).strip()[:MAX_NAME]
        if not name or is_sensitive_name(name):
            continue
        items = value if isinstance(value, list) else [value]
        texts = [text.strip() for item in items if (text := _text(name, item)) is not None]
        texts = [text for text in texts if text and not is_card_number(text)]
        if texts:
            joined = JOIN.join(texts)
            kept[name] = f"{kept[name]}{JOIN}{joined}" if name in kept else joined
    return {name: value[:MAX_VALUE] for name, value in kept.items()}


def fields_to_keep(raw: Mapping[str, Any]) -> dict[str, str]:
    """``kept_fields``, refused (ValidationFailed) when nothing is left to keep."""
    kept = kept_fields(raw)
    if not kept:
        raise ValidationFailed(
            "fields has nothing to keep: every value is empty, or one that is never kept"
            " (passwords, card data, captcha answers, CSRF tokens)",
            details={"field": "fields"},
        )
    return kept
