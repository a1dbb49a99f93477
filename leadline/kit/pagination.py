"""Page arithmetic shared by every page-numbered list."""

from __future__ import annotations

from dataclasses import dataclass

from leadline.errors import ValidationFailed

MAX_PAGE = 1_000_000


def check_page(limit: int, page: int, *, max_limit: int) -> None:
    """Refuse a page size or number no list answers: 400 naming the parameter."""
    if not 1 <= limit <= max_limit:
        raise ValidationFailed(
            f"limit must be between 1 and {max_limit}", details={"parameter": "limit"}
        )
    if not 1 <= page <= MAX_PAGE:
        raise ValidationFailed(
            f"page must be between 1 and {MAX_PAGE}", details={"parameter": "page"}
        )


@dataclass(frozen=True, kw_only=True)
class PageWindow:
    """Which slice of ``total`` results a page holds. When ``total_capped``, counting stopped
    at ``total``: at least that many results exist, and ``has_more`` is still exact as long as
    the count went past the page (the lists that cap their counts make sure it does)."""

    total: int
    limit: int
    page: int
    total_capped: bool = False

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    @property
    def total_pages(self) -> int:
        return (self.total + self.limit - 1) // self.limit

    @property
    def has_more(self) -> bool:
        return self.page * self.limit < self.total
