"""Recording, verifying and listing audit events.

Each workspace has one chain: event ``n`` stores the hash of event ``n - 1`` (``prev_hash``) and
a hash over all of its own columns, and ``audit_heads`` holds the seq and hash of the last event.
Editing an event breaks its own hash; deleting or inserting one breaks the seq or ``prev_hash``
of the next; deleting the last ones leaves the head pointing past the end.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit.repository import AuditRepository
from leadline.errors import ValidationFailed
from leadline.kit import cursors
from leadline.kit.context import RequestContext, current_request
from leadline.kit.ids import new_id
from leadline.kit.jsonsafe import canonical_json, json_safe
from leadline.kit.time import iso_micros, utcnow
from leadline.models import AuditEvent

GENESIS_HASH = "0" * 64

# The columns an event's hash covers: every column but the hash itself. Named here rather than
# read from the table, so a column added later is a decision about old events' hashes.
HASHED_FIELDS: tuple[str, ...] = (
    "id",
    "workspace_id",
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "changes",
    "ip",
    "user_agent",
    "request_id",
    "prev_hash",
)

VERIFY_BATCH = 1000
MAX_PAGE_SIZE = 100

ActorType = Literal["key", "user", "cli", "system"]

# field -> (before, after); None stands for "not set".
Changes = Mapping[str, tuple[Any, Any]]


def _os_user() -> str | None:
    try:
        return getpass.getuser()[:64] or None
    except (OSError, KeyError, ImportError):
        return None


@dataclass(frozen=True)
class Actor:
    """Who made a change: an API key, a user, someone at the command line, or Leadline itself."""

    type: ActorType
    id: str | None = None

    @classmethod
    def key(cls, key_id: str) -> Actor:
        return cls("key", key_id)

    @classmethod
    def cli(cls) -> Actor:
        """The command line, named by the operating-system user running it when known."""
        return cls("cli", _os_user())

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls("system", name)


# ------------------------------------------------------------------------------- encoding


def encode_changes(changes: Changes | None) -> str:
    """The stored form of ``changes``: ``{"field": {"before": x, "after": y}}``."""
    return canonical_json(
        {
            name: {"before": json_safe(before), "after": json_safe(after)}
            for name, (before, after) in (changes or {}).items()
        }
    )


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The fields of ``after`` whose value differs from ``before``, as (before, after)."""
    return {
        name: (before.get(name), value)
        for name, value in after.items()
        if before.get(name) != value
    }


# What the log shows of personal data (who someone is, what they wrote): that it was set or
# changed, never its value, so erasing a person's data later never has to rewrite the log.
REDACTED = "[personal data]"


def without_personal_data(
    changes: Mapping[str, tuple[Any, Any]], personal: frozenset[str]
) -> dict[str, tuple[Any, Any]]:
    """``changes`` with the values of the ``personal`` fields replaced by REDACTED."""

    def shown(name: str, value: Any) -> Any:
        return REDACTED if name in personal and value is not None else value

    return {
        name: (shown(name, before), shown(name, after)) for name, (before, after) in changes.items()
    }


def event_hash(fields: Mapping[str, Any]) -> str:
    """The hash of an event from its columns (a mapping with every name in HASHED_FIELDS).

    Recording and verifying both come here, so they cannot disagree on the canonical form.
    """
    content = {name: fields[name] for name in HASHED_FIELDS}
    content["seq"] = int(content["seq"])
    content["occurred_at"] = iso_micros(content["occurred_at"])
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


# -------------------------------------------------------------------------------- record


@dataclass(frozen=True)
class Entry:
    """One event to append: what was done to what, and the fields it changed."""

    action: str
    target_type: str
    target_id: str | None
    changes: Changes | None = None
    # The request it was made for, when that is not the one being served (a group of
    # requests written together); by default the current one.
    request: RequestContext | None = None


async def record(
    session: AsyncSession,
    workspace_id: str,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str | None,
    changes: Changes | None = None,
) -> Appended:
    """Append one event to the workspace's chain, in the caller's transaction.

    Call it last in the change it describes: from here to the commit, the chain's head stays
    locked, and other appends to this workspace wait.
    """
    entry = Entry(action, target_type, target_id, changes)
    return (await record_many(session, workspace_id, actor, [entry]))[0]


@dataclass(frozen=True)
class Appended:
    """An event just appended: its id, its place in the chain and its hash."""

    id: str
    seq: int
    hash: str


async def record_many(
    session: AsyncSession, workspace_id: str, actor: Actor, entries: Sequence[Entry]
) -> list[Appended]:
    """Append ``entries`` to the workspace's chain in order, as that many ``record`` calls
    would, with one move of the head for all of them (a batch of changes made at once)."""
    if not entries:
        return []
    repo = AuditRepository(session)
    await repo.ensure_head(workspace_id, GENESIS_HASH)
    last_seq, prev_hash = await repo.advance_head(workspace_id, len(entries))
    current = current_request()
    rows: list[dict[str, Any]] = []
    for seq, entry in enumerate(entries, start=last_seq - len(entries) + 1):
        context = entry.request or current
        fields: dict[str, Any] = {
            "id": new_id("aud"),
            "workspace_id": workspace_id,
            "seq": seq,
            "occurred_at": utcnow(),
            "actor_type": actor.type,
            "actor_id": actor.id,
            "action": entry.action,
            "target_type": entry.target_type,
            "target_id": entry.target_id,
            "changes": encode_changes(entry.changes),
            "ip": context.ip if context else None,
            "user_agent": context.user_agent if context else None,
            "request_id": context.request_id if context else None,
            "prev_hash": prev_hash,
        }
        fields["hash"] = prev_hash = event_hash(fields)
        rows.append(fields)
    # Rows, not ORM objects: a group of leads appends one event each, and building an object
    # per event cost more than the rest of the append.
    await repo.append(*rows)
    return [Appended(row["id"], row["seq"], row["hash"]) for row in rows]


# ----------------------------------------------------------------------------- redaction

# The event that says which events were redacted, and the hash each has since.
REDACTION = "audit.redacted"


async def redact(
    session: AsyncSession,
    workspace_id: str,
    actor: Actor,
    *,
    target_ids: Sequence[str],
    needles: Sequence[str],
    addresses: Sequence[str],
    scrub: Callable[[str], str],
    reason: tuple[str, str],
) -> int:
    """Take a person's data out of the workspace's older events, keeping the chain verifiable
    (docs/adr/0015-personal-data-registry.md): the events about ``target_ids``, whose changes
    hold one of ``needles`` or made from one of ``addresses``, have ``scrub`` applied to their
    changes (and lose the address and browser when it was the person's). Each keeps its hash,
    which the next event links to; a new ``audit.redacted`` event (about ``reason``: a target
    type and id) names every event rewritten with the hash of its content now, and the check
    holds a rewritten event to that hash. How many events were rewritten."""
    repo = AuditRepository(session)
    rewritten: dict[str, str] = {}
    gone = set(addresses)
    for row in await repo.holding(workspace_id, target_ids, needles, addresses):
        fields = dict(row._mapping)
        if fields["action"] == REDACTION:
            continue
        new: dict[str, Any] = {}
        changes = scrub(fields["changes"])
        if changes != fields["changes"]:
            new["changes"] = changes
        if fields["ip"] is not None and fields["ip"] in gone:
            new.update(ip=None, user_agent=None)
        if not new:
            continue
        await repo.rewrite(fields["id"], new)
        rewritten[fields["id"]] = event_hash({**fields, **new})
    if rewritten:
        await record(
            session,
            workspace_id,
            actor,
            REDACTION,
            reason[0],
            reason[1],
            {"events": (None, rewritten)},
        )
    return len(rewritten)


def _redacted_hashes(changes: Sequence[str]) -> dict[str, str]:
    """Event id -> the hash its content has since its last redaction."""
    hashes: dict[str, str] = {}
    for text in changes:
        try:
            after = json.loads(text)["events"]["after"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(after, dict):
            hashes.update({str(k): str(v) for k, v in after.items()})
    return hashes


# -------------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class Problem:
    """Where a workspace's chain first breaks. ``event_id`` and ``seq`` name the event at which
    the break shows (None when the workspace has no event left to name)."""

    workspace_id: str
    event_id: str | None
    seq: int | None
    message: str


@dataclass(frozen=True)
class ChainReport:
    problems: list[Problem]
    events: int  # events walked
    workspaces: int  # chains walked


async def check_chains(
    session: AsyncSession, workspace_id: str | None = None, *, batch_size: int = VERIFY_BATCH
) -> ChainReport:
    """Walk every chain in seq order, ``batch_size`` events at a time, and report its first
    break, with how many events and chains were walked."""
    repo = AuditRepository(session)
    problems: list[Problem] = []
    events = 0
    chains = await repo.chained_workspaces(workspace_id)
    for chain in chains:
        walk = _ChainWalk(repo, chain, batch_size)
        walk.last_seq, anchor_hash = await repo.anchor(chain)
        walk.last_hash = anchor_hash or GENESIS_HASH
        problem = await walk.run()
        events += walk.count
        if problem is not None:
            problems.append(problem)
    return ChainReport(problems=problems, events=events, workspaces=len(chains))


class _ChainWalk:
    def __init__(self, repo: AuditRepository, workspace_id: str, batch_size: int) -> None:
        self.repo = repo
        self.workspace_id = workspace_id
        self.batch_size = batch_size
        self.count = 0
        self.last_id: str | None = None
        self.last_seq = 0
        self.last_hash = GENESIS_HASH
        # Events rewritten by a redaction: the hash their content has now.
        self.redacted: dict[str, str] = {}

    def _problem(self, message: str, event_id: str | None, seq: int | None) -> Problem:
        return Problem(self.workspace_id, event_id, seq, message)

    async def _walk_on(self) -> tuple[Problem | None, bool]:
        """Check the events after the last one checked: (the first problem, whether any came)."""
        seen = False
        while True:
            # The first batch has no lower bound, so an event forged with seq 0 is seen too.
            after = self.last_seq if self.last_id is not None else None
            rows = await self.repo.events_after(self.workspace_id, after, self.batch_size)
            for row in rows:
                fields = row._mapping
                problem = self._check(fields)
                if problem is not None:
                    return problem, True
                seen = True
                self.count += 1
                self.last_id = fields["id"]
                self.last_seq = int(fields["seq"])
                self.last_hash = fields["hash"]
            if len(rows) < self.batch_size:
                return None, seen

    def _check(self, fields: Mapping[Any, Any]) -> Problem | None:
        seq = int(fields["seq"])
        expected = self.last_seq + 1
        if seq != expected:
            if seq < expected:
                message = f"seq {seq} is out of place: expected seq {expected}"
            else:
                where = f"follows seq {self.last_seq}" if self.last_id else "starts the chain"
                gone = (
                    f"seq {expected} was"
                    if seq == expected + 1
                    else f"seqs {expected} to {seq - 1} were"
                )
                message = f"seq {seq} {where}: {gone} deleted"
            return self._problem(message, fields["id"], seq)
        if fields["prev_hash"] != self.last_hash:
            return self._problem(
                "prev_hash is not the hash of the event before it: an event was deleted, "
                "inserted or replaced",
                fields["id"],
                seq,
            )
        if event_hash(fields) != self.redacted.get(fields["id"], fields["hash"]):
            return self._problem(
                "hash does not match the event's content: the event was edited",
                fields["id"],
                seq,
            )
        return None

    async def run(self) -> Problem | None:
        # A redaction event is checked in its place like any other; were it forged or
        # edited, the chain breaks there.
        self.redacted = _redacted_hashes(await self.repo.redactions(self.workspace_id, REDACTION))
        problem, _ = await self._walk_on()
        if problem is not None:
            return problem
        # The head is read after the events: a head ahead of them is an append that committed
        # meanwhile (its events are visible now), unless walking on finds nothing more.
        while True:
            head = await self.repo.head(self.workspace_id)
            if head is None:
                if self.count == 0:
                    return None  # the chain went away with its workspace while we walked
                return self._problem(
                    "the workspace has events but no chain head", self.last_id, self.last_seq
                )
            head_seq, head_hash = head
            if head_seq > self.last_seq:
                problem, more = await self._walk_on()
                if problem is not None:
                    return problem
                if more:
                    continue
                if self.last_id is None:
                    return self._problem(
                        f"the chain head is at seq {head_seq} but no events are left: "
                        "they were deleted",
                        None,
                        None,
                    )
                return self._problem(
                    f"the chain head is at seq {head_seq} but the last event is seq "
                    f"{self.last_seq}: the events after it were deleted",
                    self.last_id,
                    self.last_seq,
                )
            if head_seq < self.last_seq:
                return self._problem(
                    f"the chain head is at seq {head_seq} but the events go on to seq "
                    f"{self.last_seq}",
                    self.last_id,
                    self.last_seq,
                )
            if head_hash != self.last_hash:
                return self._problem(
                    "the chain head's hash is not the last event's hash",
                    self.last_id,
                    self.last_seq,
                )
            return None


# ---------------------------------------------------------------------------------- list


@dataclass(frozen=True)
class EventPage:
    events: list[AuditEvent]
    has_more: bool  # older events match the same filters


async def list_events(
    session: AsyncSession,
    workspace_id: str,
    *,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    actor_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int | None = None,
    limit: int,
) -> EventPage:
    """A workspace's events, newest first (by seq); ``since`` <= occurred_at < ``until``.

    ``after_seq`` continues a list after the page whose last event had that seq: pages move
    towards older events, and events recorded meanwhile never shift them.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_PAGE_SIZE}", details={"parameter": "limit"}
        )
    # One row more than asked for says whether a next page exists, without counting.
    rows = await AuditRepository(session).page(
        workspace_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        actor_id=actor_id,
        since=since,
        until=until,
        before_seq=after_seq,
        limit=limit + 1,
    )
    events, more = cursors.cut(rows, limit)
    return EventPage(events=events, has_more=more)


async def count_older_than(session: AsyncSession, workspace_id: str, cutoff: datetime) -> int:
    """How many of the workspace's audit events occurred before ``cutoff`` (what its retention
    would remove)."""
    return await AuditRepository(session).count_before(workspace_id, cutoff)


async def trim_older_than(
    session: AsyncSession, workspace_id: str, cutoff: datetime, batch: int
) -> int:
    """Remove up to ``batch`` of the chain's oldest events that occurred before ``cutoff``,
    keeping the chain verifiable: the head's anchor takes the seq and hash of the last one
    removed, and verification starts there (docs/audit.md). 0 once none is left."""
    return await AuditRepository(session).trim_before(workspace_id, cutoff, batch)


async def delete_some_of_workspace(session: AsyncSession, workspace_id: str, batch: int) -> int:
    """Delete up to ``batch`` events of a workspace's log, for the purge of a closed workspace
    (its log goes with it); 0 once none is left. A transaction each time."""
    return await AuditRepository(session).delete_some_of_workspace(workspace_id, batch)
