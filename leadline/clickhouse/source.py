"""The app's ClickHouse: opened, and its tables made, when first needed."""

from __future__ import annotations

import asyncio
import threading

from leadline.clickhouse.client import ClickHouse, open_clickhouse
from leadline.clickhouse.schema import ensure_tables


class ClickHouseSource:
    """A client for ``LEADLINE_CLICKHOUSE_URL``, opened on first use (a server that is down
    when the app starts does not stop it: the reports that need it answer 503 meanwhile)."""

    def __init__(self, url: str, retention_days: int | None = None) -> None:
        self.url = url
        self.retention_days = retention_days
        self._client: ClickHouse | None = None
        self._lock = threading.Lock()

    def get(self) -> ClickHouse:
        with self._lock:
            if self._client is None:
                client = open_clickhouse(self.url)
                ensure_tables(client, self.retention_days)
                self._client = client
            return self._client

    async def client(self) -> ClickHouse:
        if self._client is not None:
            return self._client
        return await asyncio.to_thread(self.get)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
