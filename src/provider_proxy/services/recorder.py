"""What the request path calls when a request ends: update the metrics, queue the usage record.

Both are cheap (a few counter updates and a queue put); the database is written by the writer task.
"""

from __future__ import annotations

from provider_proxy.config.settings import Settings
from provider_proxy.services.metrics import ProxyMetrics
from provider_proxy.services.usage.record import UsageRecord
from provider_proxy.services.usage.store import store_from_settings
from provider_proxy.services.usage.writer import UsageWriter


class UsageRecorder:
    def __init__(self, metrics: ProxyMetrics, writer: UsageWriter | None = None) -> None:
        self.metrics = metrics
        self.writer = writer

    @classmethod
    def from_settings(cls, settings: Settings) -> UsageRecorder:
        writer = UsageWriter(store_from_settings(settings)) if settings.usage_tracking else None
        return cls(ProxyMetrics(), writer)

    def record(self, record: UsageRecord) -> None:
        self.metrics.observe(record)
        if self.writer is not None:
            self.writer.put(record)

    async def start(self) -> None:
        if self.writer is not None:
            await self.writer.start()

    async def close(self) -> None:
        if self.writer is not None:
            await self.writer.close()
