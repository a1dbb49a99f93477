"""One Settings object, read from the environment (prefix ``LEADLINE_``)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./leadline.db"


def async_database_url(url: str) -> str:
    """Map the plain URLs people write to the async drivers we run on."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url.removeprefix("sqlite:")
    for plain in ("postgresql:", "postgres:", "postgresql+psycopg2:", "postgresql+asyncpg:"):
        if url.startswith(plain):
            return "postgresql+psycopg:" + url.removeprefix(plain)
    return url


def sync_database_url(url: str) -> str:
    """The same database through a synchronous driver (migrations, CLI, benchmarks)."""
    if url.startswith("sqlite+aiosqlite:"):
        return "sqlite:" + url.removeprefix("sqlite+aiosqlite:")
    if url.startswith("sqlite:"):
        return url
    return async_database_url(url)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADLINE_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    # How long one live stream (docs/live.md) stays open before the client connects again
    # (and is checked again); 0 ends it once it has sent what the client missed.
    live_stream_seconds: float = Field(default=1800.0, ge=0)
    # Generated and stored in the database on first start when not given.
    secret_key: str | None = None
    # Largest request body any API surface accepts.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Largest file POST /api/leads/import accepts (larger imports go through the CLI).
    import_max_bytes: int = Field(default=20_971_520, ge=1024)
    # The most data one import reads, over HTTP and from the command line: a CSV file's size,
    # or a workbook's content unpacked (a few hundred KB of zip can unpack to gigabytes).
    import_max_data_bytes: int = Field(default=104_857_600, ge=1024)
    # The most rows (after the header) one import takes.
    import_max_rows: int = Field(default=100_000, ge=1)
    # How long a stored Idempotency-Key answer is replayed.
    idempotency_ttl_hours: int = Field(default=24, ge=1)
    # Requests per API key per minute on the rate-limited API surfaces (Leadiosa).
    api_rate_limit: int = Field(default=300, ge=1)
    log_level: str = "info"
    # "json": one JSON object per log line, for collectors; "console": lines for people;
    # "auto": lines for people when standard error is a terminal, JSON otherwise.
    log_format: Literal["auto", "console", "json"] = "auto"
    # With a token, GET /metrics asks every client for it (Authorization: Bearer <token>);
    # without, it answers loopback clients only.
    metrics_token: str | None = Field(default=None, repr=False)
    # `leadline worker` serves its own /metrics on this port (127.0.0.1 unless
    # LEADLINE_WORKER_METRICS_HOST says otherwise); none: it serves none.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    worker_metrics_host: str = "127.0.0.1"

    # Jobs: how long a claimed job stays a worker's without a heartbeat, how often an idle
    # worker looks for due jobs, how many jobs one worker runs at once, and extra modules whose
    # tasks the worker should know (comma-separated import paths).
    jobs_lease_seconds: float = Field(default=60.0, gt=0)
    jobs_poll_seconds: float = Field(default=1.0, gt=0)
    worker_concurrency: int = Field(default=4, ge=1, le=256)
    task_modules: str = ""
    # Finished jobs are kept this long for inspection, dead ones longer for replay.
    jobs_keep_succeeded_days: int = Field(default=7, ge=0)
    jobs_keep_dead_days: int = Field(default=30, ge=0)

    # Conversions: where each ad platform's API is, when not at the platform's own address
    # (LEADLINE_CONVERSIONS_BASE_URL_GOOGLE=http://127.0.0.1:8081 points uploads at a staging
    # or test server), and the first wait before an upload that failed for a passing reason is
    # tried again (doubling each time, up to an hour).
    conversions_base_url_google: str | None = None
    conversions_base_url_meta: str | None = None
    conversions_base_url_microsoft: str | None = None
    conversions_base_url_tiktok: str | None = None
    conversions_base_url_linkedin: str | None = None
    conversions_base_url_reddit: str | None = None
    conversions_base_url_snapchat: str | None = None
    conversions_retry_seconds: float = Field(default=30.0, gt=0)
    # Upload requests one destination (one ad account) may be sent per minute, counted across
    # every worker (in Redis when it is set). A platform that answers "slow down" pauses its
    # destination for as long as it asked, beyond this.
    conversions_requests_per_minute: int = Field(default=60, ge=1, le=10_000)

    # The reverse proxies (addresses and networks, comma-separated; ``*``: every peer) whose
    # X-Forwarded-For and X-Forwarded-Proto are believed: the client's address (per-IP limits,
    # address rules, countries) and scheme.
    trusted_proxies: str = "127.0.0.1,::1"

    # Tracking: IPs that skip the per-IP limits (comma-separated), and how long raw events
    # are kept (visits are kept).
    tracking_whitelist_ips: str = ""
    # A header the CDN in front of Leadline sets to the visitor's country (CF-IPCountry,
    # CloudFront-Viewer-Country, ...). Only name one a trusted proxy sets: clients can send any.
    country_header: str = ""
    events_retention_days: int = Field(default=390, ge=1)
    # Tracking events that may wait for the writer at once; beyond, requests get 503.
    tracking_queue_events: int = Field(default=50_000, ge=100)
    # PostgreSQL: a group of at least this many tracking requests leaves the rows of visits
    # that only got events unwritten, keeping what they added apart for at most this many
    # seconds (see docs/api/tracking.md).
    tracking_defer_from: int = Field(default=8, ge=1)
    tracking_fold_after_seconds: float = Field(default=1.0, gt=0, le=60)
    # ClickHouse for the tracking events (docs/clickhouse.md): http(s)://user:password@host:
    # port/database, or chdb:///directory?database=name for the engine inside the process.
    # Empty: the events stay in the SQL database.
    clickhouse_url: str = Field(default="", repr=False)

    # Webhooks: let endpoints point at private, loopback and link-local addresses (and plain
    # http), for receivers on the same network; the request timeout; how long a rotated-out
    # secret keeps signing; how many due deliveries one delivery job takes at once; how many
    # requests a worker has in flight to one receiver (host and port), each on a kept-alive
    # connection.
    webhooks_allow_private: bool = False
    webhooks_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    webhooks_secret_grace_hours: float = Field(default=24.0, ge=0)
    webhooks_batch_size: int = Field(default=100, ge=1, le=1000)
    webhooks_connections_per_host: int = Field(default=8, ge=1, le=100)

    # Lead capture's CRM: where new and re-engaged leads are sent (a CRM's or Make.com's
    # webhook URL; none: nothing is sent), after how many hours a lead that writes again is
    # sent again, and the secrets the CRM's callbacks and webhook carry. PulseGate's own names
    # (LEAD_REENGAGE_HOURS, CRM_WEBHOOK_SECRET, CRM_CALLBACK_SECRET) are read too.
    crm_forward_url: str | None = None
    lead_reengage_hours: float = Field(
        default=24.0,
        ge=0,
        validation_alias=AliasChoices("LEADLINE_LEAD_REENGAGE_HOURS", "LEAD_REENGAGE_HOURS"),
    )
    crm_webhook_secret: str | None = Field(
        default=None,
        validation_alias=AliasChoices("LEADLINE_CRM_WEBHOOK_SECRET", "CRM_WEBHOOK_SECRET"),
    )
    crm_callback_secret: str | None = Field(
        default=None,
        validation_alias=AliasChoices("LEADLINE_CRM_CALLBACK_SECRET", "CRM_CALLBACK_SECRET"),
    )

    # PulseGate's analytics keys, read under PulseGate's own names only: when set, accepted as
    # an admin key and a marketing key of the default workspace (stored as digests; a changed
    # value replaces the key, an unset one is no longer accepted). See docs/configuration.md.
    analytics_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("ANALYTICS_API_KEY"), repr=False
    )
    analytics_marketing_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("ANALYTICS_MARKETING_API_KEY"), repr=False
    )

    # Workspaces: how long a closed workspace keeps its data (and may be restored) before a
    # job purges it.
    workspace_retention_days: int = Field(default=30, ge=1, le=3650)

    # Billing, as this instance reports it: the plan's name, the day of the month (UTC) a
    # billing cycle starts (a month shorter than that day starts its cycle on its last day),
    # and optional limits per cycle, reported beside what was used (nothing is refused).
    billing_plan: str = Field(default="self-hosted", min_length=1, max_length=100)
    billing_cycle_day: int = Field(default=1, ge=1, le=31)
    billing_limit_conversations: int | None = Field(default=None, ge=0)
    billing_limit_messages: int | None = Field(default=None, ge=0)
    billing_limit_ai_tokens: int | None = Field(default=None, ge=0)
    billing_limit_leads: int | None = Field(default=None, ge=0)
    billing_limit_events: int | None = Field(default=None, ge=0)

    # Anomalies: a file of datacenter, cloud and VPN networks ("CIDR provider" per line) to
    # use instead of the snapshot Leadline ships (docs/configuration.md says how to make one).
    datacenter_ranges_file: Path | None = None

    # Knowledge search: an OpenAI-compatible embeddings provider (its base URL, ending before
    # ``/embeddings``, e.g. ``http://127.0.0.1:8080/v1``), the model and the key. Without a URL
    # and a model, search is lexical only (docs/knowledge.md).
    embeddings_url: str | None = None
    embeddings_model: str | None = None
    embeddings_key: str | None = None

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        mapped = async_database_url(value)
        if not mapped.startswith(("sqlite+aiosqlite:", "postgresql+psycopg:")):
            raise ValueError("LEADLINE_DATABASE_URL must be a sqlite:/// or postgresql:// URL")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        for entry in (part.strip() for part in value.split(",")):
            if entry and entry != "*":
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(
                        f"LEADLINE_TRUSTED_PROXIES: {entry!r} is neither an IP address nor a "
                        "network (such as 10.0.0.0/8)"
                    ) from None
        return value

    @property
    def async_url(self) -> str:
        return async_database_url(self.database_url)

    @property
    def sync_url(self) -> str:
        return sync_database_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.async_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
