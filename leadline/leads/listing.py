"""Listing and searching a workspace's leads: filters, sorts, pages, and the counts behind
them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.auth.service import Principal
from leadline.errors import (
    Forbidden,
    InvalidDate,
    InvalidFilter,
    ValidationFailed,
)
from leadline.kit.filters import Condition, Op, parse_bool
from leadline.kit.pagination import PageWindow, check_page
from leadline.kit.time import parse_datetime
from leadline.leads.facets import (
    FILTERS,
    KIND_DATE,
    KIND_MONEY,
    KIND_SOURCE,
    KIND_STATUS,
    PRESENCE_FACETS,
    VALUE_FACETS,
)
from leadline.leads.repository import Criterion, LeadRepository, SortKey
from leadline.leads.schemas import (
    LeadSource,
    LeadStatus,
    parse_status,
)
from leadline.leads.service import MASKED_FIELDS, LeadRecord, to_record
from leadline.models import (
    Lead,
)
from leadline.workspaces import service as workspaces

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


def _facets_counting(criteria: Sequence[Criterion]) -> tuple[list[str], bool] | None:
    """The facets whose counts add up to the leads matching ``criteria``, and whether that sum
    is of the leads *not* matching; None when only a COUNT can tell."""
    if len(criteria) != 1:
        return None
    criterion = criteria[0]
    if criterion.op is Op.EXISTS and criterion.column in PRESENCE_FACETS:
        return [f"has:{criterion.column}"], not criterion.value
    if criterion.op is Op.EQ and criterion.column in VALUE_FACETS:
        wanted = criterion.value if isinstance(criterion.value, list | tuple) else [criterion.value]
        return [f"{criterion.column}:{value}" for value in dict.fromkeys(wanted)], False
    return None


SORTABLE: frozenset[str] = frozenset(
    {"created_at", "updated_at", "qualified_at", "value", "name", "email", "status", "source"}
)


def sort_keys(raw: str) -> list[SortKey]:
    """``field:asc|desc``, comma-separated (a bare field is ascending), as sort keys; the
    fields are checked when the list is read."""
    keys = []
    for part in raw.split(","):
        name, _, direction = part.strip().partition(":")
        direction = (direction or "asc").lower()
        if direction not in ("asc", "desc"):
            raise ValidationFailed(
                f"sort direction must be asc or desc, not '{direction[:20]}'",
                details={"parameter": "sort"},
            )
        keys.append(SortKey(name, descending=direction == "desc"))
    return keys


@dataclass(frozen=True)
class LeadQuery:
    conditions: Sequence[Condition] = ()
    sort: Sequence[SortKey] = (SortKey("created_at", descending=True),)
    search: str | None = None
    limit: int = DEFAULT_PAGE_SIZE
    page: int = 1


@dataclass(frozen=True, kw_only=True)
class LeadPage(PageWindow):
    records: list[LeadRecord]


def _date_criteria(condition: Condition, label: str) -> list[Criterion]:
    raw = condition.value.strip()
    try:
        moment = parse_datetime(raw)
    except ValueError:
        raise InvalidDate(
            f"'{raw}' in {label} is not a date; use ISO-8601 (2026-03-10 or 2026-03-10T12:00:00Z)",
            details={"parameter": label, "value": raw},
        ) from None
    if len(raw) != 10:
        return [Criterion(condition.field, condition.op, moment)]
    # A bare date stands for the whole UTC day.
    day_end = datetime.combine(moment.date(), time.max, tzinfo=UTC)
    match condition.op:
        case Op.EQ:
            return [
                Criterion(condition.field, Op.GTE, moment),
                Criterion(condition.field, Op.LTE, day_end),
            ]
        case Op.GT | Op.LTE:
            return [Criterion(condition.field, condition.op, day_end)]
        case _:
            return [Criterion(condition.field, condition.op, moment)]


def _criteria(condition: Condition, label: str) -> list[Criterion]:
    kind, ops = FILTERS[condition.field]
    if "\x00" in condition.value or len(condition.value) > 2048:
        raise InvalidFilter(
            f"{label} must be at most 2048 characters, without NUL", details={"parameter": label}
        )
    if condition.op not in ops:
        allowed = ", ".join("=" if op is Op.EQ else f"[{op.value}]" for op in sorted(ops))
        raise InvalidFilter(
            f"{label} does not take [{condition.op.value}]; it takes {allowed}",
            details={"parameter": label},
        )
    if condition.op is Op.EXISTS:
        try:
            present = parse_bool(condition.value)
        except ValueError:
            raise InvalidFilter(
                f"{label} must be true or false", details={"parameter": label}
            ) from None
        if present and not Lead.__table__.c[condition.field].nullable:
            return []  # always true: no filter at all, so the page needs no COUNT
        return [Criterion(condition.field, Op.EXISTS, present)]
    if kind == KIND_DATE:
        return _date_criteria(condition, label)
    if kind == KIND_MONEY:
        try:
            amount = Decimal(condition.value.strip())
        except ArithmeticError:
            amount = Decimal("NaN")
        if not amount.is_finite() or abs(amount) >= Decimal("1e14"):
            raise InvalidFilter(
                f"{label} must be a number below 10^14", details={"parameter": label}
            )
        return [Criterion(condition.field, condition.op, amount)]
    if kind in (KIND_STATUS, KIND_SOURCE):
        enum: type[LeadStatus] | type[LeadSource] = (
            LeadStatus if kind == KIND_STATUS else LeadSource
        )
        wanted = []
        for part in condition.value.split(","):
            value = parse_status(part) if kind == KIND_STATUS else part.strip().lower()
            try:
                wanted.append(enum(value).value)
            except ValueError:
                allowed = ", ".join(member.value for member in enum)
                raise InvalidFilter(
                    f"{label} must be one of {allowed} (comma-separate several)",
                    details={"parameter": label, "value": part},
                ) from None
        return [Criterion(condition.field, Op.EQ, wanted if len(wanted) > 1 else wanted[0])]
    return [Criterion(condition.field, condition.op, condition.value)]


def _refuse_masked_lookups(principal: Principal, query: LeadQuery, labels: dict[str, str]) -> None:
    """A role that sees emails and phones masked may not filter, search or sort on them: the
    answer would tell it what the mask hides (whether ada@example.com is a lead, or which of
    two leads' emails comes first). Matching only the masked form would still leak its first
    characters' order and surprise callers, so the request is refused, naming the parameter,
    before anything is read. ``[exists]`` is refused too: one rule, and a masked value already
    shows whether the field is there."""
    role = principal.role.value

    def refuse(parameter: str, what: str) -> Forbidden:
        return Forbidden(
            f"this API key's role ({role}) sees emails and phones masked and may not {what} "
            f"({parameter})",
            details={"parameter": parameter, "role": role},
        )

    for condition in query.conditions:
        if condition.field in MASKED_FIELDS:
            label = labels.get(condition.field, condition.field)
            if condition.op is not Op.EQ:
                label = f"{label}[{condition.op.value}]"
            raise refuse(label, "filter on them")
    if (query.search or "").strip():
        # Search reads the email and the phones beside the name. A blank term is no search at
        # all, so clients that always send ``search=`` keep working.
        raise refuse("search", "search")
    for key in query.sort:
        if key.column in MASKED_FIELDS:
            raise refuse("sort", "sort by them")


@dataclass(frozen=True, slots=True)
class _Listing:
    """A page's leads and the total it is a page of; ``capped`` when the total is only how
    many were counted before counting stopped (at least that many match)."""

    leads: list[Lead]
    total: int
    capped: bool = False


# A search counts its matches up to this many (or one more than its page reaches, if more):
# past it, `total` says "at least this many". Counting further would read every match of a
# common term, which is what made such a search slow; clients page on with `hasMore`, which
# stays exact. The same number decides how the page is read: fewer matches are read through
# the search index and sorted; more are found by walking the list's order, where they are
# close together.
SEARCH_COUNT_LIMIT = 500

# How far that walk goes, in leads per lead its page reaches (offset + limit): far enough for
# a term that one lead in this many matches. When the page is not full by then, the matches
# are rare at the start of the list (a term of the oldest leads, when the newest come first):
# they are all read through the index and sorted instead.
SEARCH_WALK_LENGTH = 400


async def _listed(
    session: AsyncSession,
    repo: LeadRepository,
    workspace_id: str,
    criteria: Sequence[Criterion],
    sort: Sequence[SortKey],
    limit: int,
    offset: int,
) -> _Listing:
    leads = await repo.page(workspace_id, criteria, None, sort, limit, offset)
    if len(leads) < limit and (leads or offset == 0):
        # A page that is not full is the last one: the total is known without counting.
        total = offset + len(leads)
    elif not criteria:
        total = await workspaces.lead_count(session, workspace_id)
    elif (counted := _facets_counting(criteria)) is not None:
        facets, complement = counted
        total = await repo.facet_total(workspace_id, facets)
        if complement:
            total = await workspaces.lead_count(session, workspace_id) - total
    else:
        total = await repo.count(workspace_id, criteria, None)
    return _Listing(leads, total)


async def _searched(
    repo: LeadRepository,
    workspace_id: str,
    criteria: Sequence[Criterion],
    search: str,
    sort: Sequence[SortKey],
    limit: int,
    offset: int,
) -> _Listing:
    """A page of a search. A term the search index can find is looked up there first: when
    fewer than the cap match, that one read gives the page and its exact total; when more do,
    the page is read by walking the list's order (a bounded walk), or failing that from every
    match. A term too short for the index is tested lead by lead along the list's order: quick
    for a common term, a read of every lead of the workspace for a rare one."""
    cap = max(SEARCH_COUNT_LIMIT, offset + limit + 1)  # so hasMore stays exact
    if repo.can_look_up(search):
        found = await repo.look_up(workspace_id, criteria, search, sort, limit, offset, at_most=cap)
        if found.matches < cap:
            return _Listing(found.leads, found.matches)
        within = SEARCH_WALK_LENGTH * (offset + limit)
        walked = await repo.walk(workspace_id, criteria, search, sort, limit, offset, within=within)
        if walked is not None:
            return _Listing(walked, cap, capped=True)
        every = await repo.look_up(
            workspace_id, criteria, search, sort, limit, offset, at_most=None
        )
        return _Listing(every.leads, every.matches)
    leads = await repo.page(workspace_id, criteria, search, sort, limit, offset)
    if len(leads) < limit and (leads or offset == 0):
        return _Listing(leads, offset + len(leads))
    counted = await repo.count(workspace_id, criteria, search, at_most=cap)
    return _Listing(leads, counted, capped=counted >= cap)


@dataclass(frozen=True)
class CheckedQuery:
    """A list query's filters as the repository takes them, and its search (None: none)."""

    criteria: list[Criterion]
    search: str | None


def checked_query(
    principal: Principal, query: LeadQuery, *, labels: dict[str, str] | None = None
) -> CheckedQuery:
    """``query`` checked as the list checks it (InvalidFilter, ValidationFailed, Forbidden),
    for readers of the same leads in another shape (an export of the list)."""
    labels = labels or {}
    if principal.masks_personal_data:
        _refuse_masked_lookups(principal, query, labels)
    check_page(query.limit, query.page, max_limit=MAX_PAGE_SIZE)
    criteria: list[Criterion] = []
    for condition in query.conditions:
        if condition.field not in FILTERS:
            raise InvalidFilter(
                f"cannot filter on '{labels.get(condition.field, condition.field)}'",
                details={"parameter": labels.get(condition.field, condition.field)},
            )
        label = labels.get(condition.field, condition.field)
        if condition.op is not Op.EQ:
            label = f"{label}[{condition.op.value}]"
        criteria.extend(_criteria(condition, label))
    for key in query.sort:
        if key.column not in SORTABLE:
            raise ValidationFailed(
                f"cannot sort by '{labels.get(key.column, key.column)}'",
                details={"parameter": "sort"},
            )
    search = (query.search or "").strip() or None
    if search is not None and (len(search) > 200 or "\x00" in search):
        raise ValidationFailed(
            "search must be at most 200 characters, without NUL", details={"parameter": "search"}
        )
    return CheckedQuery(criteria, search)


async def list_leads(
    session: AsyncSession,
    principal: Principal,
    query: LeadQuery,
    *,
    labels: dict[str, str] | None = None,
) -> LeadPage:
    """``labels`` maps a domain field name to the name the caller used for it, for messages."""
    checked = checked_query(principal, query, labels=labels)
    criteria, search = checked.criteria, checked.search
    repo = LeadRepository(session)
    offset = (query.page - 1) * query.limit
    if search is None:
        found = await _listed(
            session, repo, principal.workspace_id, criteria, query.sort, query.limit, offset
        )
    else:
        found = await _searched(
            repo, principal.workspace_id, criteria, search, query.sort, query.limit, offset
        )
    masked = principal.masks_personal_data
    return LeadPage(
        records=[to_record(lead, masked=masked) for lead in found.leads],
        total=found.total,
        total_capped=found.capped,
        limit=query.limit,
        page=query.page,
    )
