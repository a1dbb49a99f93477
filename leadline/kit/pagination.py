"""Page arithmetic shared by every page-numbered list."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class PageWindow:
    """Which slice of ``total`` results a page holds."""

    total: int
    limit: int
    page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    @property
    def total_pages(self) -> int:
        return (self.total + self.limit - 1) // self.limit

    @property
    def has_more(self) -> bool:
        return self.page * self.limit < self.total
