"""Checks of the settings themselves, before anything is reached."""

from __future__ import annotations

from urllib.parse import urlsplit

from leadline.config import Settings
from leadline.doctor.findings import Finding, fail, ok, warn

# What a secret key needs: enough characters, and more than a few distinct ones.
SECRET_MIN_LENGTH = 32
SECRET_MIN_DISTINCT = 10
_PLACEHOLDERS = ("changeme", "change-me", "secret", "password", "example", "xxxx")


def secret_key(settings: Settings, stored: bool | None) -> Finding:
    """The instance secret (it seals conversion and AI credentials). ``stored``: whether the
    database holds a generated one (None when the database could not be read)."""
    configured = settings.secret_key
    if configured is None:
        if stored:
            return ok(
                "secret key",
                "LEADLINE_SECRET_KEY is unset; the key generated on first start is kept in the "
                "database (back the database up with it)",
            )
        return warn(
            "secret key",
            "LEADLINE_SECRET_KEY is unset and the database holds no generated key yet: the "
            "first start makes one; or set LEADLINE_SECRET_KEY (python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')",
        )
    lowered = configured.lower()
    if len(configured) < SECRET_MIN_LENGTH:
        return fail(
            "secret key",
            f"LEADLINE_SECRET_KEY has {len(configured)} characters; use at least "
            f"{SECRET_MIN_LENGTH} random ones (python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')",
        )
    if len(set(configured)) < SECRET_MIN_DISTINCT or any(word in lowered for word in _PLACEHOLDERS):
        return fail(
            "secret key",
            "LEADLINE_SECRET_KEY looks like a placeholder, not a random key; replace it with "
            "random characters (python -c 'import secrets; print(secrets.token_urlsafe(48))')",
        )
    return ok("secret key", f"LEADLINE_SECRET_KEY is set ({len(configured)} characters)")


def base_urls(settings: Settings) -> Finding:
    """Every URL setting is an absolute http(s) URL (ClickHouse's, which may also be chdb://,
    has a check of its own)."""
    named = {
        "LEADLINE_CRM_FORWARD_URL": settings.crm_forward_url,
        "LEADLINE_EMBEDDINGS_URL": settings.embeddings_url,
        **{
            f"LEADLINE_CONVERSIONS_BASE_URL_{platform.upper()}": getattr(
                settings, f"conversions_base_url_{platform}"
            )
            for platform in (
                "google",
                "meta",
                "microsoft",
                "tiktok",
                "linkedin",
                "reddit",
                "snapchat",
            )
        },
    }
    wrong = []
    for name, value in named.items():
        if not value:
            continue
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            wrong.append(name)
    if wrong:
        return fail(
            "base URLs",
            f"{', '.join(wrong)}: not an absolute http:// or https:// URL (scheme and host)",
        )
    given = sum(value is not None for value in named.values())
    return ok("base URLs", f"{given} URL setting(s) set, each an absolute http(s) URL")


def metrics_access(settings: Settings) -> Finding:
    token = settings.metrics_token
    if not token:
        return ok(
            "metrics", "GET /metrics answers loopback clients only (LEADLINE_METRICS_TOKEN unset)"
        )
    if len(token) < 16:
        return warn(
            "metrics",
            f"LEADLINE_METRICS_TOKEN has {len(token)} characters; use at least 16 random ones",
        )
    return ok("metrics", "GET /metrics asks every client for LEADLINE_METRICS_TOKEN")
