"""What the lead list filters on, and the per-workspace counts (facets) that let an unfiltered
or singly-filtered list know its total without counting rows."""

from __future__ import annotations

from collections import Counter

from leadline.kit.filters import Op
from leadline.leads.repository import is_present
from leadline.models import (
    CLICK_ID_FIELDS,
    UTM_FIELDS,
    Lead,
)

KIND_TEXT = "text"
KIND_DATE = "date"
KIND_MONEY = "money"
KIND_STATUS = "status"
KIND_SOURCE = "source"

_COMPARE = frozenset({Op.EQ, Op.GTE, Op.GT, Op.LTE, Op.LT, Op.EXISTS})
_EQ_EXISTS = frozenset({Op.EQ, Op.EXISTS})

# Filterable lead columns: their kind, and the operators each accepts.
FILTERS: dict[str, tuple[str, frozenset[Op]]] = {
    "status": (KIND_STATUS, frozenset({Op.EQ})),
    "source": (KIND_SOURCE, frozenset({Op.EQ})),
    "label_id": (KIND_TEXT, _EQ_EXISTS),
    "website": (KIND_TEXT, _EQ_EXISTS),
    "value": (KIND_MONEY, _COMPARE),
    "created_at": (KIND_DATE, _COMPARE),
    "updated_at": (KIND_DATE, _COMPARE),
    "qualified_at": (KIND_DATE, _COMPARE),
    **{name: (KIND_TEXT, _EQ_EXISTS) for name in CLICK_ID_FIELDS},
    **{name: (KIND_TEXT, _EQ_EXISTS) for name in UTM_FIELDS},
}

# Optional filter fields whose presence each workspace counts (the ``has:<field>`` facets).
PRESENCE_FACETS: tuple[str, ...] = tuple(
    name for name in FILTERS if Lead.__table__.c[name].nullable
)
# Filter fields whose values each workspace counts (``status:won``).
VALUE_FACETS: frozenset[str] = frozenset({"status", "source", "website"})


def facets_of(lead: object) -> Counter[str]:
    # ``lead`` is a Lead or a LeadRow: anything with the lead's columns as attributes.
    """The facets a lead counts towards; see :class:`leadline.models.LeadFacet`."""
    facets: Counter[str] = Counter()
    for name in VALUE_FACETS:
        value = getattr(lead, name)
        if value is not None:
            facets[f"{name}:{value}"] += 1
    for name in PRESENCE_FACETS:
        if is_present(getattr(lead, name)):
            facets[f"has:{name}"] += 1
    return facets
