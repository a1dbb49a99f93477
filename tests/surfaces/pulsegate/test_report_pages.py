"""Which analytics pages a key may open, by role and by its own list."""

from __future__ import annotations

import pytest

from leadline.auth.roles import Role
from leadline.auth.service import Principal
from leadline.errors import Forbidden
from leadline.models import Workspace
from leadline.surfaces.pulsegate.reports import (
    ADMIN_ONLY,
    DEFAULT_MARKETING_PAGES,
    PAGES,
    check_page,
    pages_of,
)


def principal(role: Role, pages: tuple[str, ...] | None = None) -> Principal:
    return Principal(Workspace(id="ws_1", slug="acme", name="Acme"), "key_1", role, pages=pages)


def test_an_admin_opens_every_page_and_the_admin_routes() -> None:
    admin = principal(Role.ADMIN)
    assert pages_of(admin) == PAGES
    for page in (*PAGES, ADMIN_ONLY):
        check_page(admin, page)


def test_a_marketing_key_opens_its_own_pages_only() -> None:
    marketing = principal(Role.MARKETING, ("overview", "sources"))
    check_page(marketing, "overview")
    check_page(marketing, "sources")
    with pytest.raises(Forbidden, match="'geo'"):
        check_page(marketing, "geo")
    with pytest.raises(Forbidden):
        check_page(marketing, ADMIN_ONLY)


def test_a_marketing_key_without_a_list_opens_the_default_pages() -> None:
    marketing = principal(Role.MARKETING)
    assert pages_of(marketing) == DEFAULT_MARKETING_PAGES
    assert "storage" not in DEFAULT_MARKETING_PAGES
    with pytest.raises(Forbidden):
        check_page(marketing, "storage")


def test_an_integration_key_opens_nothing() -> None:
    with pytest.raises(Forbidden):
        check_page(principal(Role.INTEGRATION), "overview")
