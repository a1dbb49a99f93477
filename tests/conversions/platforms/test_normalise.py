"""Golden vectors for normalising and hashing, from the platforms' own documented examples."""

from __future__ import annotations

import pytest

from leadline.conversions.platforms.normalise import (
    google_email,
    google_hashed_email,
    google_hashed_phone,
    google_phone,
    meta_email,
    meta_hashed,
    meta_name,
    meta_phone,
    sha256_hex,
)

# Meta, Conversions API "Customer Information Parameters" page (parameters/
# customer-information-parameters), the examples given for em, ph and fn: input, normalised
# form, and the SHA-256 the page prints.
META_EMAIL = (
    "John_Smith@gmail.com",
    "john_smith@gmail.com",
    "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
)
META_PHONE = (
    "+1 (650)555-1212",
    "16505551212",
    "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176",
)
META_NAMES = [
    ("Mary", "mary", "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"),
    ("정", "정", "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14"),
    ("Valéry", "valéry", "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"),
]


def test_meta_email_example() -> None:
    raw, normalised, digest = META_EMAIL
    assert meta_email(raw) == normalised
    assert meta_email(f"  {raw} ") == normalised
    assert meta_hashed(meta_email(raw)) == digest


def test_meta_phone_example() -> None:
    raw, normalised, digest = META_PHONE
    assert meta_phone(raw) == normalised
    assert meta_phone("+16505551212") == normalised
    # "Remove symbols, letters, and any leading zeros".
    assert meta_phone("0016505551212") == normalised
    assert meta_hashed(meta_phone(raw)) == digest


@pytest.mark.parametrize(("raw", "normalised", "digest"), META_NAMES)
def test_meta_name_examples(raw: str, normalised: str, digest: str) -> None:
    assert meta_name(raw) == normalised
    assert meta_hashed(meta_name(raw)) == digest


def test_meta_name_drops_punctuation() -> None:
    assert meta_name(" O'Brien-Smith ") == "obriensmith"
    assert meta_name("...") is None


def test_empty_values_give_no_hash() -> None:
    assert meta_email(None) is None
    assert meta_email("no-at-sign") is None
    assert meta_phone("abc") is None
    assert meta_phone(None) is None
    assert meta_hashed(None) is None


# Google Ads API, "Normalize and hash user-provided data" (enhanced conversions for leads):
# trim, lowercase, phone in E.164 with "+"; and, for gmail.com / googlemail.com, remove the
# dots before the domain. Google's Python sample upload_enhanced_conversions_for_leads.py
# instead removes "." and "+" from the local part of every address: both rules are kept.


def test_google_email_documented_rule() -> None:
    assert google_email(" Jane.Doe@Gmail.com ") == "janedoe@gmail.com"
    assert google_email("jane.doe@googlemail.com") == "janedoe@googlemail.com"
    # Other domains keep their dots (and a plus sign is part of the address).
    assert google_email("alex.2@example.com") == "alex.2@example.com"
    assert google_email("Jane.Doe+ads@GoogleMail.com") == "janedoe+ads@googlemail.com"


def test_google_email_sample_rule() -> None:
    # The sample's raw record "alex.2@example.com".
    assert google_email("alex.2@example.com", "all_domains") == "alex2@example.com"
    assert google_email("Jane.Doe+ads@Example.com", "all_domains") == "janedoeads@example.com"
    assert google_hashed_email("alex.2@example.com", "all_domains") == sha256_hex(
        "alex2@example.com"
    )


def test_google_and_meta_agree_where_the_rules_do() -> None:
    # Lowercased and trimmed with no dots to remove, Google's hash is Meta's printed one.
    assert google_hashed_email(META_EMAIL[0]) == META_EMAIL[2]


def test_google_phone_is_e164_with_plus() -> None:
    # The sample's raw record "+1 800 5550102".
    assert google_phone("+1 800 5550102") == "+18005550102"
    assert google_phone("0049 30 1234567") == "+49301234567"
    assert google_hashed_phone("+1 800 5550102") == sha256_hex("+18005550102")
    assert google_hashed_phone("+1 800 5550102") != meta_hashed(meta_phone("+1 800 5550102"))
    # Without its country code a number cannot be made E.164: nothing is sent.
    assert google_phone("(650) 555-1212") is None
    assert google_phone("+12") is None


def test_sha256_is_lowercase_hex() -> None:
    digest = sha256_hex("x")
    assert len(digest) == 64
    assert digest == digest.lower()
