"""Marketing keys' own pages, their changes, and the keys read from the environment, as the
auth service keeps them."""

from __future__ import annotations

import pytest

from leadline.audit.service import Actor
from leadline.auth import service as auth
from leadline.auth.pages import DEFAULT_MARKETING_PAGES, PAGES, parse_page_list
from leadline.auth.roles import Role
from leadline.config import Settings
from leadline.errors import Conflict, Unauthorized, ValidationFailed
from tests.fixtures.factories import fetch_rows, run_in_transaction

ADMIN_ENV = "ll_admin_from_the_environment_0001"
MARKETING_ENV = "ll_marketing_from_the_environment_01"


def issue(
    settings: Settings, role: str = "marketing", pages: list[str] | None = None
) -> auth.IssuedKey:
    return run_in_transaction(
        settings,
        lambda session: auth.create_key(session, workspace_slug="acme", role=role, pages=pages),
    )


def principal(settings: Settings, token: str) -> auth.Principal:
    return run_in_transaction(settings, lambda session: auth.authenticate(session, token))


def test_page_lists_are_read_strictly() -> None:
    assert parse_page_list("overview, Sources,overview") == ("overview", "sources")
    with pytest.raises(ValidationFailed) as refused:
        parse_page_list("overview,leads,nope")
    assert "leads, nope" in refused.value.message
    for page in PAGES:
        assert page in refused.value.message
    with pytest.raises(ValidationFailed, match="at least one page"):
        parse_page_list(" , ")


def test_a_marketing_key_carries_its_own_pages(settings: Settings) -> None:
    issued = issue(settings, pages=["sources", "overview"])
    found = principal(settings, issued.token)
    assert found.role is Role.MARKETING
    assert found.pages == ("sources", "overview")
    stored = fetch_rows(settings, "SELECT pages FROM api_keys WHERE id = :id", id=issued.key.id)
    assert stored == [{"pages": '["sources", "overview"]'}]

    default = issue(settings)
    assert principal(settings, default.token).pages is None


def test_only_marketing_keys_have_pages(settings: Settings) -> None:
    with pytest.raises(ValidationFailed, match="only a marketing key"):
        issue(settings, role="admin", pages=["overview"])
    assert principal(settings, issue(settings, role="admin").token).pages is None


def test_changing_and_regenerating_a_key(settings: Settings) -> None:
    issued = issue(settings, pages=["overview"])
    ws = issued.workspace.id

    changed = run_in_transaction(
        settings,
        lambda session: auth.change_key(
            session, ws, issued.key.id, Role.MARKETING, Actor.cli(), name="Agency", pages=["geo"]
        ),
    )
    assert changed.name == "Agency"
    assert principal(settings, issued.token).pages == ("geo",)
    run_in_transaction(
        settings,
        lambda session: auth.change_key(
            session, ws, issued.key.id, Role.MARKETING, Actor.cli(), pages=None
        ),
    )
    assert principal(settings, issued.token).pages is None

    new = run_in_transaction(
        settings,
        lambda session: auth.regenerate_key(
            session, issued.workspace, issued.key.id, Role.MARKETING, Actor.cli()
        ),
    )
    assert new.token != issued.token
    with pytest.raises(Unauthorized):
        principal(settings, issued.token)
    assert principal(settings, new.token).key_id == issued.key.id

    run_in_transaction(
        settings,
        lambda session: auth.revoke_key_of(session, ws, issued.key.id, Role.MARKETING, Actor.cli()),
    )
    with pytest.raises(Conflict):
        run_in_transaction(
            settings,
            lambda session: auth.regenerate_key(
                session, issued.workspace, issued.key.id, Role.MARKETING, Actor.cli()
            ),
        )
    actions = fetch_rows(
        settings,
        "SELECT action FROM audit_events WHERE target_id = :id ORDER BY seq",
        id=issued.key.id,
    )
    assert [row["action"] for row in actions] == [
        "api_key.created",
        "api_key.updated",
        "api_key.updated",
        "api_key.rotated",
        "api_key.revoked",
    ]


def sync(settings: Settings, **values: str | None) -> list[str]:
    return run_in_transaction(
        settings, lambda session: auth.sync_environment_keys(session, values, "default")
    )


def test_environment_keys_follow_the_environment(settings: Settings) -> None:
    sync(settings, ANALYTICS_API_KEY=ADMIN_ENV, ANALYTICS_MARKETING_API_KEY=MARKETING_ENV)
    admin = principal(settings, ADMIN_ENV)
    marketing = principal(settings, MARKETING_ENV)
    assert (admin.role, admin.workspace.slug) == (Role.ADMIN, "default")
    assert (marketing.role, marketing.workspace.slug, marketing.pages) == (
        Role.MARKETING,
        "default",
        None,
    )
    # Stored as digests, like any key.
    stored = fetch_rows(settings, "SELECT key_hash, from_env FROM api_keys ORDER BY from_env")
    assert [row["from_env"] for row in stored] == [
        "ANALYTICS_API_KEY",
        "ANALYTICS_MARKETING_API_KEY",
    ]
    assert all(ADMIN_ENV not in row["key_hash"] for row in stored)

    # Again with the same values: nothing changes.
    assert (
        sync(settings, ANALYTICS_API_KEY=ADMIN_ENV, ANALYTICS_MARKETING_API_KEY=MARKETING_ENV) == []
    )
    assert len(fetch_rows(settings, "SELECT id FROM api_keys")) == 2

    # A new value replaces the old; an unset variable's key is no longer accepted.
    sync(settings, ANALYTICS_API_KEY=ADMIN_ENV + "x", ANALYTICS_MARKETING_API_KEY=None)
    with pytest.raises(Unauthorized):
        principal(settings, ADMIN_ENV)
    with pytest.raises(Unauthorized):
        principal(settings, MARKETING_ENV)
    assert principal(settings, ADMIN_ENV + "x").role is Role.ADMIN

    # Back to a value held before: accepted again.
    sync(settings, ANALYTICS_API_KEY=ADMIN_ENV, ANALYTICS_MARKETING_API_KEY=None)
    assert principal(settings, ADMIN_ENV).role is Role.ADMIN
    with pytest.raises(Unauthorized):
        principal(settings, ADMIN_ENV + "x")


def test_environment_keys_are_not_managed_as_marketing_keys(settings: Settings) -> None:
    sync(settings, ANALYTICS_MARKETING_API_KEY=MARKETING_ENV)
    ws = principal(settings, MARKETING_ENV).workspace_id
    assert (
        run_in_transaction(settings, lambda session: auth.keys_of(session, ws, Role.MARKETING))
        == []
    )


def test_a_short_environment_key_is_refused(settings: Settings) -> None:
    with pytest.raises(ValidationFailed, match="20-200"):
        sync(settings, ANALYTICS_API_KEY="short")


def test_default_pages_leave_out_storage() -> None:
    assert "storage" not in DEFAULT_MARKETING_PAGES
