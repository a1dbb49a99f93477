"""The ClickHouse tables (ADR 0014), made when a process first connects.

``events``: every tracking event, as the tracking writer stores it in the SQL database when
ClickHouse is not configured, plus ``path`` (the page's path of a page view, as the rollups
name it) and ``bot`` (its visit was taken for a bot: the reports leave it out). ``visits``:
each visit once, at its start, with what never changes afterwards: its visitor, whether it
was taken for a bot, and the rollup dimensions it counts under (channel, source, referrer,
platform, country...), a column each. Everything a visit's later events change (its
counters, engagement, bounce) stays in the SQL database's ``visits``.
"""

from __future__ import annotations

from leadline.clickhouse.client import ClickHouse

EVENTS = (
    "workspace_id",
    "site_id",
    "visit_id",
    "client_id",
    "type",
    "occurred_at",
    "received_at",
    "url",
    "path",
    "data",
    "bot",
)
# The rollup dimensions a visit counts under (``tracking.attribution.rollup_dimensions``),
# one column each ('' where the visit has none).
DIMENSIONS = (
    "channel",
    "source",
    "campaign",
    "referrer",
    "landing",
    "country",
    "browser",
    "os",
    "device",
    "platform",
)
VISITS = ("id", "workspace_id", "site_id", "visitor_id", "started_at", "bot", *DIMENSIONS)

TABLES = (
    """CREATE TABLE IF NOT EXISTS events (
    workspace_id LowCardinality(String),
    site_id LowCardinality(String),
    visit_id String,
    client_id String,
    type LowCardinality(String),
    occurred_at DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    url Nullable(String),
    path String,
    data String,
    bot UInt8,
    INDEX ix_events_visit visit_id TYPE bloom_filter GRANULARITY 4
) ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (site_id, received_at)
SETTINGS fsync_after_insert = 1""",
    """CREATE TABLE IF NOT EXISTS visits (
    id String,
    workspace_id LowCardinality(String),
    site_id LowCardinality(String),
    visitor_id String,
    started_at DateTime64(3, 'UTC'),
    bot UInt8,
    channel LowCardinality(String),
    source String,
    campaign String,
    referrer String,
    landing String,
    country LowCardinality(String),
    browser LowCardinality(String),
    os LowCardinality(String),
    device LowCardinality(String),
    platform LowCardinality(String)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (site_id, started_at)
SETTINGS fsync_after_insert = 1""",
)


def ensure_tables(client: ClickHouse, retention_days: int | None = None) -> None:
    """Make the tables where missing; with ``retention_days`` (LEADLINE_EVENTS_RETENTION_DAYS)
    ClickHouse drops events older than that itself (a TTL, applied as parts merge), as the
    retention job deletes them from the SQL database."""
    from leadline.clickhouse import hourly

    for statement in TABLES:
        client.command(statement)
    # The traffic reports' hourly aggregates, and the raw rows stored before them once.
    hourly.ensure(client)
    if retention_days is not None:
        client.command(
            "ALTER TABLE events MODIFY TTL toDateTime(received_at)"
            f" + INTERVAL {int(retention_days)} DAY"
        )
