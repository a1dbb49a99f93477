"""What a captured form never passes on: the names and values of leadline.forms.sensitive."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadline.errors import ValidationFailed
from leadline.forms.sensitive import (
    MAX_VALUE,
    is_card_number,
    is_sensitive_name,
    kept_fields,
    luhn,
)

SENSITIVE = [
    # passwords
    "password",
    "Password",
    "new-password",
    "password_confirmation",
    "user[passwd]",
    "passphrase",
    "pass",
    "pwd",
    # payment cards
    "card",
    "cardnumber",
    "card_number",
    "Card Number",
    "card-no",
    "cardholder",
    "card_cvc",
    "credit_card",
    "debitCard",
    "cc-number",
    "ccnum",
    "cc_exp",
    "cc-csc",
    "cc-name",
    "cvc",
    "cvv",
    "cvv2",
    "csc",
    "expiry",
    "exp-date",
    "expiration_date",
    "exp_month",
    "expYear",
    # captcha answers
    "g-recaptcha-response",
    "h-captcha-response",
    "cf-turnstile-response",
    "frc-captcha-solution",
    "captcha",
    "altcha",
    # CSRF tokens
    "csrf",
    "csrf_token",
    "csrfmiddlewaretoken",
    "_token",
    "authenticity_token",
    "__RequestVerificationToken",
    "_wpnonce",
    "X-XSRF-TOKEN",
    "form_key",
    "my_csrf_field",
    # the pixel's session field
    "octa_sid",
]
ORDINARY = [
    "name",
    "email",
    "phone",
    "message",
    "company",
    "passport",
    "compass",
    "experience",
    "account_number",
    "cc_email",
    "success",
    "discount_code",
    "token_count",
    "announcement",
    "postcode",
    "sid",
]


@pytest.mark.parametrize("name", SENSITIVE)
def test_sensitive_names(name: str) -> None:
    assert is_sensitive_name(name)


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_names(name: str) -> None:
    assert not is_sensitive_name(name)


@pytest.mark.parametrize(
    "value",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        " 5555 5555 5555 4444 ",
        "378282246310005",  # American Express, 15 digits
        "6011111111111117",  # Discover
        "30569309025904",  # Diners Club, 14
        "4222222222222",  # Visa, 13
        "6221260000000000001",  # UnionPay, 19
    ],
)
def test_card_numbers(value: str) -> None:
    assert is_card_number(value)


@pytest.mark.parametrize(
    "value",
    [
        "4111111111111112",  # the Luhn check fails
        "411111111111",  # 12 digits
        "41111111111111111111",  # 20 digits
        "00493012345630",  # Luhn-valid, but starts with 0: a telephone number dialled with 00
        "+49 30 1234 5630",
        "4111.1111.1111.1111",
        "4111 1111 1111 111a",
        "4111  1111",
        "",
    ],
)
def test_not_card_numbers(value: str) -> None:
    assert not is_card_number(value)


@given(st.integers(min_value=10**12, max_value=10**19 - 1))
def test_luhn_accepts_exactly_one_check_digit(number: int) -> None:
    body = str(number)[:-1]
    valid = [digit for digit in "0123456789" if luhn(body + digit)]
    assert len(valid) == 1


def test_kept_fields() -> None:
    kept = kept_fields(
        {
            " name ": "  Ada  ",
            "email": "ada@example.com",
            "password": "hunter2",
            "notes": "4111 1111 1111 1111",
            "rooms": ["2", " ", None, 4, "4111111111111111"],
            "agree": True,
            "budget": 350000.5,
            "empty": "  ",
            "nothing": None,
            "message": "x" * (MAX_VALUE + 1),
            "n" * 80: "long name",
            "": "no name",
        }
    )
    assert kept == {
        "name": "Ada",
        "email": "ada@example.com",
        "rooms": "2 | 4",
        "agree": "true",
        "budget": "350000.5",
        "message": "x" * MAX_VALUE,
        "n" * 64: "long name",
    }


@pytest.mark.parametrize("value", [{"password": "x"}, [["x"]], [{"a": 1}]])
def test_kept_fields_refuses_values_within_values(value: object) -> None:
    with pytest.raises(ValidationFailed, match=r"fields\.nested"):
        kept_fields({"nested": value})
