"""The analytics pages a marketing key's list may name, each a group of report routes, and
the reading of such a list. The report routes check them (leadline.surfaces.pulsegate.reports);
the keys keep them."""

from __future__ import annotations

from collections.abc import Iterable

from leadline.errors import ValidationFailed

PAGES: tuple[str, ...] = (
    "overview",
    "sessions",
    "pages",
    "geo",
    "engagement",
    "sources",
    "realtime",
    "storage",
    "engine",
    "options",
    "anomalies",
)
# What a marketing key opens when it was given no list.
DEFAULT_MARKETING_PAGES: tuple[str, ...] = tuple(page for page in PAGES if page != "storage")


def parse_pages(names: Iterable[str], field: str = "pages") -> tuple[str, ...]:
    """``names`` as a list of known pages, in the order given, each once; ValidationFailed
    naming the unknown ones and the valid ones otherwise, or when no page is named."""
    chosen: list[str] = []
    unknown: list[str] = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name not in PAGES:
            unknown.append(raw.strip())
        elif name not in chosen:
            chosen.append(name)
    valid = ", ".join(PAGES)
    if unknown:
        raise ValidationFailed(
            f"unknown page{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"the pages are: {valid}",
            details={"field": field, "unknown": unknown, "valid": list(PAGES)},
        )
    if not chosen:
        raise ValidationFailed(
            f"name at least one page; the pages are: {valid}", details={"field": field}
        )
    return tuple(chosen)


def parse_page_list(text: str, field: str = "pages") -> tuple[str, ...]:
    """A comma-separated list of pages (``overview,sources``), as :func:`parse_pages`."""
    return parse_pages(text.split(","), field)
