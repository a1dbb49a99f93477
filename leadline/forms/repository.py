"""Every SQL statement for form submissions and what the CRM did with them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from leadline.db import Repository
from leadline.models import (
    CrmActivity,
    CrmSend,
    LeadSubmission,
    SubmissionDay,
    SubmissionRollup,
)
from leadline.models.base import UTCDateTime

# What names the person behind a submission, from the surest to the least sure.
SubmitterKey = Literal["visitor_id", "email", "phone_e164", "ip"]
_SUBMITTER_COLUMNS = {
    "visitor_id": LeadSubmission.visitor_id,
    "email": LeadSubmission.email,
    "phone_e164": LeadSubmission.phone_e164,
    "ip": LeadSubmission.ip,
}


# The rollups' buckets: a quarter of an hour, on which every zone's midnight falls.
BUCKET_MINUTES = 15
# The outcomes the rollups count: what the public sent.
COUNTED_OUTCOMES: tuple[str, ...] = ("created", "merged", "kept_aside")


def bucket_of(moment: datetime) -> datetime:
    """The start of the quarter hour ``moment`` falls in."""
    return moment.replace(
        minute=moment.minute - moment.minute % BUCKET_MINUTES, second=0, microsecond=0
    )


@dataclass(frozen=True, slots=True)
class Narrowing:
    """What the reports narrow submissions to: sites (None: all, and those sent without
    one), and the values of the dimensions they filter on (None: any). ``engagement_label``
    ``""`` is a submission without a tracked visit; ``lead_ids`` (only on raw submissions)
    the leads a search found."""

    site_ids: tuple[str, ...] | None = None
    outcomes: tuple[str, ...] = ()
    project: str | None = None
    source: str | None = None
    engagement_label: str | None = None
    suspicious: bool | None = None
    suspicious_from: int = 0
    lead_ids: tuple[str, ...] | None = None


SUM_NAMES: tuple[str, ...] = (
    "submissions",
    "created",
    "merged",
    "kept_aside",
    "suspicious",
    "engaged",
    "engagement_total",
    "suspicion_total",
)


@dataclass(slots=True)
class Sums:
    """What rollup rows add up to."""

    submissions: int = 0
    created: int = 0
    merged: int = 0
    kept_aside: int = 0
    suspicious: int = 0
    engaged: int = 0
    engagement_total: int = 0
    suspicion_total: int = 0

    def add(self, other: Sums, sign: int = 1) -> None:
        for name in SUM_NAMES:
            setattr(self, name, getattr(self, name) + sign * getattr(other, name))


# Columns a rollup read may group by.
ROLLUP_GROUPS = frozenset({"project", "source", "engagement_label"})

Counts = SubmissionRollup | SubmissionDay


def _rollup_where(
    model: type[Counts], workspace_id: str, by: Narrowing, groups: Sequence[str]
) -> list[Any]:
    # The whole rows serve a read that neither groups nor filters by project, source or label.
    whole = not groups and by.project is None and by.source is None
    whole = whole and by.engagement_label is None
    where: list[Any] = [model.workspace_id == workspace_id, model.whole.is_(whole)]
    if by.site_ids is not None:
        where.append(model.site_id.in_(by.site_ids))
    if by.project is not None:
        where.append(model.project == by.project)
    if by.source is not None:
        where.append(model.source == by.source)
    if by.engagement_label is not None:
        where.append(model.engagement_label == by.engagement_label)
    if by.suspicious is not None:
        where.append(model.suspicious.is_(by.suspicious))
    return where


def _sums_of(model: type[Counts]) -> list[Any]:
    return [
        func.sum(model.submissions),
        func.sum(model.created),
        func.sum(model.merged),
        func.sum(model.kept_aside),
        func.sum(case((model.suspicious.is_(True), model.submissions), else_=0)),
        func.sum(model.engaged),
        func.sum(model.engagement_total),
        func.sum(model.suspicion_total),
    ]


def _submission_where(entity: Any, workspace_id: str, by: Narrowing) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [entity.workspace_id == workspace_id]
    if by.site_ids is not None:
        where.append(entity.site_id.in_(by.site_ids))
    if by.outcomes:
        where.append(entity.outcome.in_(by.outcomes))
    if by.project is not None:
        where.append(entity.project == by.project)
    if by.source is not None:
        where.append(entity.source == by.source)
    if by.engagement_label is not None:
        label = entity.engagement_label
        where.append(label.is_(None) if by.engagement_label == "" else label == by.engagement_label)
    if by.suspicious is True:
        where.append(entity.suspicion_score >= by.suspicious_from)
    elif by.suspicious is False:
        where.append(entity.suspicion_score < by.suspicious_from)
    if by.lead_ids is not None:
        where.append(entity.lead_id.in_(by.lead_ids))
    return where


def _ranges_table(ranges: Sequence[tuple[datetime, datetime]]) -> Any:
    """``ranges`` as a subquery of rows (low, high): SELECT ... UNION ALL SELECT ..., which
    both databases take (SQLite names no columns of a VALUES list)."""
    rows = " UNION ALL ".join(
        f"SELECT :low{n} AS low, :high{n} AS high" for n in range(len(ranges))
    )
    params = [
        bindparam(f"{side}{n}", value, type_=UTCDateTime())
        for n, (low, high) in enumerate(ranges)
        for side, value in (("low", low), ("high", high))
    ]
    typed = text(rows).bindparams(*params).columns(low=UTCDateTime(), high=UTCDateTime())
    return typed.subquery("pieces")


# Quarter-hour ranges read per statement (a month's days each need one or two).
_RANGES_PER_READ = 64


class RollupRepository(Repository):
    """The submissions' rollups: a quarter hour's and a UTC day's counts per site, project,
    source, engagement label and suspicion."""

    async def count(self, row: LeadSubmission, suspicious_from: int) -> None:
        """Count a stored submission in its quarter's and its day's rows."""
        if row.outcome not in COUNTED_OUTCOMES:
            return
        key = {
            "workspace_id": row.workspace_id,
            "site_id": row.site_id or "",
            "project": row.project or "",
            "source": row.source or "",
            "engagement_label": row.engagement_label or "",
            "suspicious": row.suspicion_score >= suspicious_from,
        }
        added = {
            "submissions": 1,
            "created": int(row.outcome == "created"),
            "merged": int(row.outcome == "merged"),
            "kept_aside": int(row.outcome == "kept_aside"),
            "engaged": int(row.engagement_score is not None),
            "engagement_total": row.engagement_score or 0,
            "suspicion_total": row.suspicion_score,
        }
        quarter = bucket_of(row.created_at)
        whole = {**key, "project": "", "source": "", "engagement_label": "", "whole": True}
        for counted in ({**key, "whole": False}, whole):
            await self._upsert(SubmissionRollup, {**counted, "bucket": quarter}, added)
            await self._upsert(SubmissionDay, {**counted, "day": quarter.date()}, added)

    async def _upsert(
        self, model: type[Counts], key: dict[str, Any], added: dict[str, int]
    ) -> None:
        columns = [getattr(model, name) for name in key if name != "workspace_id"]
        index = [model.workspace_id, *columns]
        insert = (
            postgresql.insert
            if self.session.get_bind().dialect.name == "postgresql"
            else sqlite.insert
        )
        statement = insert(model).values({**key, **added})
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=index,
                set_={name: getattr(model, name) + statement.excluded[name] for name in added},
            )
        )

    async def quarter_sums(
        self,
        workspace_id: str,
        ranges: Sequence[tuple[datetime, datetime]],
        by: Narrowing,
        groups: Sequence[str],
    ) -> list[tuple[datetime, tuple[Any, ...], Sums]]:
        """The quarters within ``ranges`` (each from, to excluded) that meet ``by``, summed
        per quarter and value of ``groups``."""
        r = SubmissionRollup
        grouped_names = [name for name in groups if name in ROLLUP_GROUPS]
        grouped = [getattr(r, name) for name in grouped_names]
        where = _rollup_where(r, workspace_id, by, grouped_names)
        found: list[tuple[datetime, tuple[Any, ...], Sums]] = []
        for start in range(0, len(ranges), _RANGES_PER_READ):
            # The ranges as a table the quarters are joined to: one indexed range read each.
            # (A condition OR-ing the ranges would be tested against every quarter between
            # the first and the last, and a union of reads costs more to build than to run.)
            pieces = _ranges_table(ranges[start : start + _RANGES_PER_READ])
            query = (
                select(r.bucket, *grouped, *_sums_of(r))
                .select_from(pieces)
                .join(r, and_(r.bucket >= pieces.c.low, r.bucket < pieces.c.high))
                .where(*where)
                .group_by(r.bucket, *grouped)
            )
            for row in (await self.session.execute(query)).all():
                width = 1 + len(grouped)
                sums = Sums(*(int(value or 0) for value in row[width:]))
                found.append((row[0], tuple(row[1:width]), sums))
        return found

    async def day_sums(
        self,
        workspace_id: str,
        first: date,
        end: date,
        by: Narrowing,
        groups: Sequence[str],
    ) -> list[tuple[date, tuple[Any, ...], Sums]]:
        """The UTC days from ``first`` to ``end`` (excluded) that meet ``by``, summed per day
        and value of ``groups``."""
        d = SubmissionDay
        grouped_names = [name for name in groups if name in ROLLUP_GROUPS]
        grouped = [getattr(d, name) for name in grouped_names]
        query = (
            select(d.day, *grouped, *_sums_of(d))
            .where(*_rollup_where(d, workspace_id, by, grouped_names), d.day >= first, d.day < end)
            .group_by(d.day, *grouped)
        )
        found = []
        for row in (await self.session.execute(query)).all():
            width = 1 + len(grouped)
            sums = Sums(*(int(value or 0) for value in row[width:]))
            found.append((row[0], tuple(row[1:width]), sums))
        return found

    async def values(
        self, workspace_id: str, first: date, end: date, by: Narrowing, column: str
    ) -> list[str]:
        """The distinct values of ``column`` (project or source) in the day rows from
        ``first`` to ``end`` (excluded) that meet ``by``, in order."""
        d = SubmissionDay
        target = d.project if column == "project" else d.source
        where = _rollup_where(d, workspace_id, by, [column])
        query = (
            select(target).distinct().where(*where, d.day >= first, d.day < end).order_by(target)
        )
        return [value for value in await self.session.scalars(query)]

    async def delete_some_of_workspace(self, workspace_id: str, batch: int) -> int:
        """Up to ``batch`` of the workspace's rollup rows (quarters first, then days)."""
        for model in (SubmissionRollup, SubmissionDay):
            removed = await super().delete_some(
                model, model.workspace_id == workspace_id, batch=batch
            )
            if removed:
                return removed
        return 0


class SubmissionRepository(Repository):
    async def outcomes_between(
        self, workspace_id: str, site_ids: Sequence[str], since: datetime, until: datetime
    ) -> dict[str, int]:
        """The sites' submissions made from ``since`` to ``until`` (excluded), per outcome."""
        if not site_ids:
            return {}
        rows = await self.session.execute(
            select(LeadSubmission.outcome, func.count())
            .where(
                LeadSubmission.workspace_id == workspace_id,
                LeadSubmission.site_id.in_(site_ids),
                LeadSubmission.created_at >= since,
                LeadSubmission.created_at < until,
            )
            .group_by(LeadSubmission.outcome)
        )
        return {str(outcome): int(count) for outcome, count in rows}

    async def add(self, submission: LeadSubmission, *, suspicious_from: int) -> None:
        """Store a submission (its outcome decided) and count it in the rollups."""
        self.session.add(submission)
        await self.session.flush()
        await RollupRepository(self.session).count(submission, suspicious_from)

    def _latest_of_leads(
        self, workspace_id: str, start: datetime, end: datetime, by: Narrowing
    ) -> tuple[Select[Any], Any]:
        s = aliased(LeadSubmission, name="s")
        later = aliased(LeadSubmission, name="later")
        newer = exists(
            select(literal(1)).where(
                later.lead_id == s.lead_id,
                later.created_at < end,
                *_submission_where(later, workspace_id, by),
                tuple_(later.created_at, later.id) > tuple_(s.created_at, s.id),
            )
        )
        query = select(s).where(
            *_submission_where(s, workspace_id, by),
            s.created_at >= start,
            s.created_at < end,
            s.lead_id.is_not(None),
            ~newer,
        )
        return query, s

    async def latest_of_leads(
        self,
        workspace_id: str,
        start: datetime,
        end: datetime,
        by: Narrowing,
        *,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[LeadSubmission]:
        """The latest submission of each lead among the period's that meet ``by``, newest
        first, after the one at ``before`` (its time and id), ``limit`` of them: a walk down
        the workspace's submissions that keeps each one no later one of its lead outdoes."""
        query, s = self._latest_of_leads(workspace_id, start, end, by)
        if before is not None:
            query = query.where(tuple_(s.created_at, s.id) < tuple_(*before))
        query = query.order_by(s.created_at.desc(), s.id.desc()).limit(limit)
        return list(await self.session.scalars(query))

    async def counts_of_leads(
        self, workspace_id: str, lead_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, int]:
        """How many submissions each of ``lead_ids`` made in the period."""
        if not lead_ids:
            return {}
        s = LeadSubmission
        rows = await self.session.execute(
            select(s.lead_id, func.count())
            .where(
                s.workspace_id == workspace_id,
                s.lead_id.in_(lead_ids),
                s.created_at >= start,
                s.created_at < end,
            )
            .group_by(s.lead_id)
        )
        return {str(lead_id): int(count) for lead_id, count in rows.all()}

    async def of_lead(self, workspace_id: str, lead_id: str, limit: int) -> list[LeadSubmission]:
        """The lead's submissions, newest first, at most ``limit``."""
        s = LeadSubmission
        return list(
            await self.session.scalars(
                select(s)
                .where(s.workspace_id == workspace_id, s.lead_id == lead_id)
                .order_by(s.created_at.desc(), s.id.desc())
                .limit(limit)
            )
        )

    async def latest_lead_id(
        self, workspace_id: str, project: str, by: SubmitterKey, value: str
    ) -> str | None:
        """The lead of the newest earlier submission to the project whose ``by`` is ``value``."""
        found: str | None = await self.session.scalar(
            select(LeadSubmission.lead_id)
            .where(
                LeadSubmission.workspace_id == workspace_id,
                LeadSubmission.project == project,
                _SUBMITTER_COLUMNS[by] == value,
                LeadSubmission.lead_id.is_not(None),
            )
            .order_by(LeadSubmission.created_at.desc())
            .limit(1)
        )
        return found


class CrmRepository(Repository):
    async def latest_forward(self, lead_id: str) -> datetime | None:
        found: datetime | None = await self.session.scalar(
            select(func.max(LeadSubmission.forward_queued_at)).where(
                LeadSubmission.lead_id == lead_id
            )
        )
        return found

    async def submission(self, submission_id: str) -> LeadSubmission | None:
        return await self.session.get(LeadSubmission, submission_id)

    async def latest_submission_of(self, lead_id: str) -> LeadSubmission | None:
        found: LeadSubmission | None = await self.session.scalar(
            select(LeadSubmission)
            .where(LeadSubmission.lead_id == lead_id)
            .order_by(LeadSubmission.created_at.desc())
            .limit(1)
        )
        return found

    async def by_crm_lead_id(self, crm_lead_id: str) -> LeadSubmission | None:
        found: LeadSubmission | None = await self.session.scalar(
            select(LeadSubmission)
            .where(LeadSubmission.crm_lead_id == crm_lead_id)
            .order_by(LeadSubmission.created_at.desc())
            .limit(1)
        )
        return found

    async def add_activity(self, activity: CrmActivity) -> None:
        self.session.add(activity)
        await self.session.flush()

    async def add_send(self, send: CrmSend) -> None:
        self.session.add(send)
        await self.session.flush()
