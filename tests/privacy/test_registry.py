"""The registry of personal data: every table whose columns look personal declares them, and
every declaration names real columns and keys the engine knows."""

from __future__ import annotations

import re
import typing

from sqlalchemy import Column, String

from leadline.models import Base
from leadline.models.personal import Key, PersonalData
from leadline.privacy.registry import Person, declared, subject_tables

# Names that hold who someone is or how to reach them.
PERSONAL_NAME = re.compile(
    r"(^|_)(e_?mail|phone|mobile|msisdn|tel|ip|ip_address|name|first_name|last_name|"
    r"full_name|user_agent|address|street|postcode|birth|birthday)(_|$)"
)
# Types that do: an email address fits 320 characters, an IPv6 address 45 (and PostgreSQL's
# network types are addresses).
EMAIL_LENGTH, IP_LENGTH = 320, 45


def looks_personal(column: Column[typing.Any]) -> str | None:
    """Why ``column`` looks like personal data, or None."""
    if PERSONAL_NAME.search(column.name):
        return f"its name ({column.name})"
    kind = column.type
    if isinstance(kind, String) and kind.length in (EMAIL_LENGTH, IP_LENGTH):
        return f"its type ({kind})"
    if type(kind).__name__ in {"INET", "CIDR"}:
        return f"its type ({kind})"
    return None


def test_every_personal_looking_column_is_declared() -> None:
    undeclared = []
    for table in Base.metadata.sorted_tables:
        mapper = next(
            (m for m in Base.registry.mappers if m.local_table is table),
            None,
        )
        data: PersonalData | None = (
            mapper.class_.__dict__.get("__personal__") if mapper is not None else None
        )
        said = data.declared() if data is not None else set()
        for column in table.columns:
            why = looks_personal(column)
            if why and column.name not in said:
                undeclared.append(f"{table.name}.{column.name}: {why}")
    assert undeclared == [], (
        "these columns look personal: declare them in their model's __personal__ "
        "(leadline/models/personal.py), or say why not in not_personal=...\n"
        + "\n".join(undeclared)
    )


def test_the_heuristic_catches_what_it_should() -> None:
    assert looks_personal(Column("billing_email", String(100)))
    assert looks_personal(Column("phone", String(20)))
    assert looks_personal(Column("client_ip", String(64)))
    assert looks_personal(Column("contact", String(320)))
    assert looks_personal(Column("remote", String(45)))
    assert looks_personal(Column("last_name", String(50)))
    assert not looks_personal(Column("status", String(16)))
    assert not looks_personal(Column("shipping", String(64)))


def test_declarations_name_real_columns_and_known_keys() -> None:
    keys = set(typing.get_args(Key))
    for one in declared():
        columns = set(one.table.c.keys())
        assert one.data.declared() <= columns, (one.name, one.data.declared() - columns)
        assert set(one.data.match.values()) <= keys, one.name
        assert set(one.data.gathers.values()) <= keys, one.name
        for reason in (*one.data.not_personal.values(), *one.data.personal.values()):
            assert reason.strip(), f"{one.name}: a reason is needed"
        assert not (one.data.delete and one.data.erase), f"{one.name}: delete or erase, not both"
        if one.finds and one.data.parent is None:
            assert "workspace_id" in columns, f"{one.name}: no workspace_id and no parent"
        # A table whose rows are searched must say what erasure does with them.
        if one.data.search:
            assert one.data.delete or set(one.data.search) <= set(one.data.erase), one.name


def test_every_key_that_finds_rows_is_gathered_somewhere() -> None:
    """A key only ever matched (never gathered from a row, nor named by the caller) would
    find nothing: a declaration pointing nowhere."""
    gathered = {key for one in subject_tables() for key in one.data.gathers.values()}
    named = {"email", "phone", "contact"}
    for one in subject_tables():
        for column, key in one.data.match.items():
            assert key in gathered | named, f"{one.name}.{column} matches {key}, found nowhere"


def test_a_person_keeps_each_phone_as_written_and_in_e164() -> None:
    person = Person()
    assert person.add("phone", " +44 20 7946 0000 ")
    assert person.add("email", "Ada@Example.com")
    assert not person.add("email", "ada@example.com")
    assert person.of("phone") == ["+44 20 7946 0000", "+442079460000"]
    assert person.of("email") == ["ada@example.com"]
    assert not person.add("name", "A")
