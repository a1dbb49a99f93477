"""The registry of personal data: how each table declares, next to its model, what it holds
about a person, how the person's rows are found, and what erasing them does.

A model declares ``__personal__ = PersonalData(...)``. The privacy feature reads these
declarations (and nothing else) to erase a person, to export what is held about them, and a
test fails when a model has an email-, phone-, IP- or name-like column that its declaration
does not mention (docs/privacy.md, docs/adr/0015-personal-data-registry.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

# How a person is matched. ``email`` values are compared lower-cased, ``phone`` values as
# written and in E.164; the others are ids (or, for ``ip``, addresses) gathered from the rows
# already found. ``name`` and ``click`` (ad click ids) never find a row by themselves: they
# are gathered to be scrubbed from text.
Key = Literal[
    "email",
    "phone",
    "name",
    "ip",
    "click",
    "lead",
    "submission",
    "contact",
    "conversation",
    "visit",
    "visitor",
    "delivery",
]


@dataclass(frozen=True, slots=True)
class Set:
    """Erasure sets the column to ``value`` (None for NULL)."""

    value: Any = None


@dataclass(frozen=True, slots=True)
class _Special:
    name: str

    def __repr__(self) -> str:
        return self.name


# Erasure replaces every occurrence of the person's email, phone or name in the text (in each
# string of a JSON document) by ERASED_TEXT, leaving the rest.
SCRUB = _Special("SCRUB")
# Erasure sets the column to the time of the erasure.
NOW = _Special("NOW")
# Erasure adds one (a revision, so caches that hold the row read it again).
INCREMENT = _Special("INCREMENT")

Action = Set | _Special

NULL = Set(None)
ERASED_TEXT = "[erased]"
ERASED = Set(ERASED_TEXT)
EMPTY_OBJECT = Set("{}")


@dataclass(frozen=True, slots=True)
class Parent:
    """For a table without ``workspace_id``: the column that points to a row of ``table``
    (whose ``workspace_id`` scopes it)."""

    column: str
    table: str
    key: str = "id"


@dataclass(frozen=True, slots=True)
class PersonalData:
    """What one table holds about a person.

    - ``match``: column -> key; a row is the person's when the column holds one of their
      values of that key (their email, a lead of theirs, ...).
    - ``search``: text columns in which the person's email, phone (as written or in
      E.164) or full name is looked for; a row that holds one is the person's too. For
      tables that copy data from elsewhere (webhook payloads, job payloads, stored responses).
    - ``gathers``: column -> key; the values of a found row's column become the person's,
      so rows elsewhere that point to them are found in turn (a lead's visit, a contact's
      conversations).
    - ``delete``: found rows are deleted. Otherwise ``erase`` says, per column, what
      erasure does to a found row (the row stays, so counts and history keep their shape).
    - ``personal``: columns that hold personal data without being matched, gathered or
      erased by name here (a deleted row's columns, a member's sign-in address); what they
      are. The export includes every column of every found row either way.
    - ``not_personal``: columns whose names or types look personal but are not, and why.
    - ``parent``: how rows are scoped to a workspace when the table has no ``workspace_id``.
    - ``anonymise_keeps``: columns of ``erase`` that retention leaves when it anonymises a
      row kept for another row's sake (a visit a lead still points to keeps the ad click ids
      the lead's conversions are uploaded with), and why. Erasure leaves nothing.
    - ``subject``: False for tables about the workspace's members (people who sign in), not
      about the people they serve: erasure and export of a data subject leave them alone;
      ``leadline people remove`` is how a member goes.
    - ``clickhouse``: for a table whose rows ClickHouse keeps too, or instead, when
      LEADLINE_CLICKHOUSE_URL is set (tracking events, visits' starts: docs/clickhouse.md),
      the declaration of ClickHouse's table of the same name, in its column names: its
      ``match``, and its ``delete`` or ``erase`` (``Set`` and ``SCRUB``); its rows are scoped
      by their ``workspace_id``.
    """

    match: Mapping[str, Key] = field(default_factory=dict)
    search: tuple[str, ...] = ()
    gathers: Mapping[str, Key] = field(default_factory=dict)
    delete: bool = False
    erase: Mapping[str, Action] = field(default_factory=dict)
    personal: Mapping[str, str] = field(default_factory=dict)
    not_personal: Mapping[str, str] = field(default_factory=dict)
    parent: Parent | None = None
    subject: bool = True
    clickhouse: PersonalData | None = None
    anonymise_keeps: Mapping[str, str] = field(default_factory=dict)

    def anonymising(self) -> PersonalData:
        """This declaration as retention's anonymising applies it: ``erase`` without the
        columns in ``anonymise_keeps``."""
        return replace(
            self,
            erase={
                name: action
                for name, action in self.erase.items()
                if name not in self.anonymise_keeps
            },
        )

    def declared(self) -> set[str]:
        """Every column this declaration says something about."""
        return {
            *self.match,
            *self.search,
            *self.gathers,
            *self.erase,
            *self.personal,
            *self.not_personal,
        }


def not_personal(**reasons: str) -> PersonalData:
    """A declaration for a table whose personal-looking columns are all false alarms."""
    return PersonalData(not_personal=reasons, subject=False)
