"""Reading the registry of personal data (``leadline.models.personal``), and the person it is
searched for: their emails, phones and ids, growing as their rows are found."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table

from leadline.kit.phones import phone_forms
from leadline.models import Base
from leadline.models.personal import Key, PersonalData


@dataclass(frozen=True)
class Declared:
    """One table and what it declared."""

    name: str
    model: type[Any]
    table: Table
    data: PersonalData

    @property
    def finds(self) -> bool:
        """Whether rows of this table can be the person's."""
        return self.data.subject and bool(self.data.match or self.data.search)


def declared() -> list[Declared]:
    """Every table that declared personal data, parents before children (the order rows are
    inserted in; erasure deletes in reverse)."""
    by_table = {
        mapper.class_.__tablename__: mapper.class_
        for mapper in Base.registry.mappers
        if "__personal__" in mapper.class_.__dict__
    }
    return [
        Declared(table.name, by_table[table.name], table, by_table[table.name].__personal__)
        for table in Base.metadata.sorted_tables
        if table.name in by_table
    ]


def subject_tables() -> list[Declared]:
    """The tables erasure and export search for a data subject."""
    return [one for one in declared() if one.finds]


def clickhouse_tables() -> list[tuple[str, PersonalData]]:
    """ClickHouse's tables that hold a data subject's rows (when LEADLINE_CLICKHOUSE_URL is
    set), each with its declaration: those of the SQL tables that declared one."""
    return [
        (one.name, one.data.clickhouse)
        for one in subject_tables()
        if one.data.clickhouse is not None
    ]


# A full name shorter than this is not looked for in copied text (it is still scrubbed from
# the person's own rows).
MIN_NAME = 5


@dataclass
class Person:
    """What is known of a person so far: values per key (emails lower-cased, phones as written
    and in E.164)."""

    values: dict[Key, set[str]] = field(default_factory=dict)

    def of(self, key: Key) -> list[str]:
        return sorted(self.values.get(key, ()))

    def add(self, key: Key, raw: object) -> bool:
        """Add a value; whether it was new."""
        if raw is None:
            return False
        text = str(raw).strip()
        if not text:
            return False
        forms: Iterable[str]
        if key == "email":
            forms = [text.lower()]
        elif key == "phone":
            forms = phone_forms(text)
        elif key == "name" and len(text) < 2:
            return False
        else:
            forms = [text]
        known = self.values.setdefault(key, set())
        new = [form for form in forms if form not in known]
        known.update(new)
        return bool(new)

    def needles(self) -> list[str]:
        """What is looked for in copied text: emails, phones, and full names (a name of
        two words or more; a first name alone would find other people)."""
        full_names = [
            name for name in self.of("name") if len(name.split()) > 1 and len(name) >= MIN_NAME
        ]
        emails = [email for email in self.of("email") if "@" in email and len(email) >= MIN_NAME]
        phones = [phone for phone in self.of("phone") if sum(map(str.isdigit, phone)) >= 6]
        return [*emails, *phones, *full_names]

    def words(self) -> list[str]:
        """What is scrubbed from found text, longest first (so a name inside an email
        address goes with the address)."""
        found = {*self.needles(), *self.of("name"), *self.of("ip"), *self.of("click")}
        return sorted(found, key=lambda word: (-len(word), word))
