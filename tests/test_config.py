"""Settings from the environment: database URLs as people write them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices, ValidationError

from leadline.config import Settings


@pytest.mark.parametrize(
    ("given", "async_url", "sync_url"),
    [
        ("sqlite:///./leadline.db", "sqlite+aiosqlite:///./leadline.db", "sqlite:///./leadline.db"),
        ("postgresql://u:p@db:5432/ll", "postgresql+psycopg://u:p@db:5432/ll", "postgresql+psycopg://u:p@db:5432/ll"),
        ("postgres://u@db/ll", "postgresql+psycopg://u@db/ll", "postgresql+psycopg://u@db/ll"),
        ("postgresql+psycopg2://u@db/ll", "postgresql+psycopg://u@db/ll", "postgresql+psycopg://u@db/ll"),
    ],
)  # fmt: skip
def test_database_urls_map_to_our_drivers(given: str, async_url: str, sync_url: str) -> None:
    settings = Settings(database_url=given)
    assert settings.async_url == async_url
    assert settings.sync_url == sync_url


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LEADLINE_DATABASE_URL", "LEADLINE_REDIS_URL", "LEADLINE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.database_url == "sqlite:///./leadline.db"
    assert settings.redis_url is None
    assert settings.secret_key is None
    monkeypatch.setenv("LEADLINE_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("LEADLINE_SECRET_KEY", "s3cret")
    assert Settings().redis_url == "redis://127.0.0.1:6379/0"
    assert Settings().secret_key == "s3cret"


def test_unknown_database_is_refused() -> None:
    with pytest.raises(ValidationError, match="sqlite:/// or postgresql://"):
        Settings(database_url="mysql://root@localhost/ll")


def test_lead_capture_settings_take_pulsegates_names_too(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LEAD_REENGAGE_HOURS", "CRM_WEBHOOK_SECRET", "CRM_CALLBACK_SECRET"):
        monkeypatch.delenv(f"LEADLINE_{name}", raising=False)
        monkeypatch.delenv(name, raising=False)
    defaults = Settings()
    assert (defaults.lead_reengage_hours, defaults.crm_webhook_secret) == (24.0, None)
    monkeypatch.setenv("LEAD_REENGAGE_HOURS", "6")
    monkeypatch.setenv("CRM_WEBHOOK_SECRET", "from-pulsegate")
    monkeypatch.setenv("LEADLINE_CRM_CALLBACK_SECRET", "ours")
    settings = Settings()
    assert settings.lead_reengage_hours == 6.0
    assert settings.crm_webhook_secret == "from-pulsegate"
    assert settings.crm_callback_secret == "ours"
    # Leadline's own name wins when both are set.
    monkeypatch.setenv("LEADLINE_LEAD_REENGAGE_HOURS", "12")
    assert Settings().lead_reengage_hours == 12.0


def _documented_variables() -> set[str]:
    text = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    return set(re.findall(r"^\| `([A-Z][A-Z_]+)`", text, re.MULTILINE))


def _variable(name: str) -> str:
    """The variable a setting is documented under: ``LEADLINE_<NAME>``, or the first name its
    alias takes (a setting read only under another product's name, e.g. ANALYTICS_API_KEY)."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        assert isinstance(first, str)
        return first
    return f"LEADLINE_{name.upper()}"


def _source_without_config() -> str:
    package = Path(__file__).parent.parent / "leadline"
    return "\n".join(path.read_text() for path in package.rglob("*.py") if path.name != "config.py")


def test_every_setting_is_documented_and_every_documented_one_exists() -> None:
    settings = {_variable(name) for name in Settings.model_fields}
    assert _documented_variables() == settings


# The database URL is read through Settings' own properties (async_url, sync_url).
@pytest.mark.parametrize("name", sorted(set(Settings.model_fields) - {"database_url"}))
def test_every_setting_is_read(name: str) -> None:
    """A setting nothing reads is a promise the code does not keep: an operator sets it and
    nothing changes."""
    assert re.search(rf"\.{name}\b", _source_without_config()), f"nothing reads {name}"


def test_the_analytics_keys_are_read_under_pulsegates_names_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADLINE_ANALYTICS_API_KEY", "not-this-one-0123456789")
    assert Settings().analytics_api_key is None
    monkeypatch.setenv("ANALYTICS_API_KEY", "admin-key-0123456789")
    monkeypatch.setenv("ANALYTICS_MARKETING_API_KEY", "marketing-key-0123456789")
    settings = Settings()
    assert settings.analytics_api_key == "admin-key-0123456789"
    assert settings.analytics_marketing_api_key == "marketing-key-0123456789"
    # Secrets stay out of what the settings print.
    assert "admin-key" not in repr(settings)
