"""The definition of a form (``form_json``), as saved and as /form.js renders it.

Documented field by field in docs/forms.md. A definition is checked when it is saved, so that a
form on a customer's page never meets one it cannot render.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from leadline.errors import ValidationFailed
from leadline.kit.urls import parse_url

FieldType = Literal["text", "email", "tel", "textarea", "select", "checkbox", "hidden"]
FieldName = Annotated[str, Meta(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]
Label = Annotated[str, Meta(min_length=1, max_length=200)]
Short = Annotated[str, Meta(max_length=500)]
MAX_FIELDS = 50
MAX_FORM_JSON_BYTES = 64 * 1024


class Option(Struct, forbid_unknown_fields=True):
    value: Annotated[str, Meta(max_length=200)]
    label: Label | None = None


class FormField(Struct, forbid_unknown_fields=True):
    name: FieldName
    type: FieldType = "text"
    label: Label | None = None
    required: bool = False
    # A regular expression the whole value must match (as the browser's ``pattern``).
    pattern: Annotated[str, Meta(max_length=500)] | None = None
    placeholder: Annotated[str, Meta(max_length=200)] | None = None
    # select: the choices; either plain values or {value, label}.
    options: list[Option | Annotated[str, Meta(max_length=200)]] | None = None
    # hidden: the value sent; any field: the value it starts with.
    value: Short | None = None
    max_length: Annotated[int, Meta(ge=1, le=10_000)] | None = None


class FormDefinition(Struct, forbid_unknown_fields=True):
    fields: Annotated[list[FormField], Meta(min_length=1, max_length=MAX_FIELDS)]
    title: Label | None = None
    submit_label: Annotated[str, Meta(min_length=1, max_length=100)] = "Send"
    # Where the browser goes after a successful submission, or what it shows instead.
    thank_you_url: Annotated[str, Meta(max_length=2048)] | None = None
    thank_you_message: Short | None = None
    # When set, a required checkbox with this text must be ticked to submit.
    consent_text: Short | None = None


# Names the scripts add to every submission themselves.
RESERVED = re.compile(r"^(__|octa_sid$|siteKey$|formId$)")


def parse_definition(raw: bytes | str) -> FormDefinition:
    """Check a form definition; raises ValidationFailed saying what is wrong and where."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > MAX_FORM_JSON_BYTES:
        raise ValidationFailed(
            f"form_json is {len(data)} bytes; at most {MAX_FORM_JSON_BYTES} are accepted",
            details={"field": "form_json"},
        )
    try:
        form = msgspec.json.decode(data, type=FormDefinition)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"form_json: {exc}", details={"field": "form_json"}) from None
    except msgspec.DecodeError:
        raise ValidationFailed(
            "form_json is not valid JSON", details={"field": "form_json"}
        ) from None
    check_definition(form)
    return form


def check_definition(form: FormDefinition) -> None:
    seen: set[str] = set()
    for index, field in enumerate(form.fields):
        where = f"form_json.fields[{index}]"
        if field.name.lower() in seen:
            raise ValidationFailed(f"{where}: the name '{field.name}' is used twice")
        seen.add(field.name.lower())
        if RESERVED.match(field.name):
            raise ValidationFailed(
                f"{where}: '{field.name}' is reserved for what the scripts add themselves"
            )
        if field.type == "select" and not field.options:
            raise ValidationFailed(f"{where}: a select field needs options")
        if field.type != "select" and field.options:
            raise ValidationFailed(f"{where}: only a select field has options")
        if field.type != "hidden" and not field.label:
            raise ValidationFailed(f"{where}: a visible field needs a label")
        if field.pattern is not None:
            try:
                re.compile(field.pattern)
            except re.error as exc:
                raise ValidationFailed(
                    f"{where}.pattern is not a regular expression: {exc}"
                ) from None
    if form.thank_you_url is not None:
        parts = parse_url(form.thank_you_url)
        if parts is None or parts.scheme not in ("http", "https") or not parts.host:
            raise ValidationFailed("form_json.thank_you_url must be an http(s) URL")


def encode_definition(form: FormDefinition) -> str:
    """The stored text of a definition: checked, with defaults filled in."""
    return msgspec.json.encode(form).decode()
