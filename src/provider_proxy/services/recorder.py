"""Where a finished request goes: one log line, one usage row and its metrics, all from its record.

`finish` runs once per request, after its response (stream or not) has been sent. It is cheap (a log
record, a few counter updates and a queue put); the database is written by the writer task and the
log line by the logging thread.
"""

from __future__ import annotations

import logging

from provider_proxy.config.settings import Settings
from provider_proxy.services.metrics import ProxyMetrics
from provider_proxy.services.usage.journal import JOURNAL_DIR, Journal
from provider_proxy.services.usage.record import RequestRecord
from provider_proxy.services.usage.store import default_data_dir, store_from_settings
from provider_proxy.services.usage.writer import UsageWriter
from provider_proxy.utils.logging import loggable

logger = logging.getLogger("provider_proxy.request")


class Recorder:
    def __init__(self, metrics: ProxyMetrics, writer: UsageWriter | None = None) -> None:
        self.metrics = metrics
        self.writer = writer
        # Streams being sent now (MAX_OPEN_STREAMS is checked against it).
        self.open_streams = 0

    @classmethod
    def from_settings(cls, settings: Settings, known_models: frozenset[str] = frozenset()) -> Recorder:
        """`known_models`: the configured model names the metrics keep as label values."""
        writer = _writer(settings) if settings.usage_tracking else None
        metrics = ProxyMetrics(known_models)
        if writer is not None:
            # Read when /metrics is scraped: nothing to update on the request path.
            metrics.usage_backlog.set_function(writer.backlog)
            metrics.usage_not_written.set_function(lambda: writer.dropped + writer.lost)
        return cls(metrics, writer)

    def sending(self, record: RequestRecord) -> None:
        """The response is about to be sent (a stream starts now: its start is journalled, so that a
        crash before its end still leaves a record)."""
        if record.stream:
            self.open_streams += 1
            self.metrics.streams_in_flight.inc()
            if self.writer is not None:
                self.writer.started(record)

    def finish(self, record: RequestRecord, *, usage: bool, sent: bool = True) -> None:
        """The response has been sent (`sent`; else the client left before it): write the log line and,
        for `usage` endpoints, the usage row and the metrics."""
        record.latency_ms = record.elapsed_ms()
        if record.stream and sent:
            self.open_streams -= 1
            self.metrics.streams_in_flight.dec()
        if usage:
            self.metrics.observe(record)
            if self.writer is not None:
                self.writer.put(record)
        _log_line(record)

    async def start(self) -> None:
        if self.writer is not None:
            await self.writer.start()

    async def close(self) -> None:
        if self.writer is not None:
            await self.writer.close()


def _writer(settings: Settings) -> UsageWriter:
    journal = None
    if settings.usage_journal:
        directory = (settings.data_dir or default_data_dir()) / JOURNAL_DIR
        journal = Journal(directory, fsync_seconds=settings.usage_journal_fsync_seconds)
    return UsageWriter(store_from_settings(settings), journal)


def _log_line(record: RequestRecord) -> None:
    tokens = "" if record.input_tokens is None else f" in={record.input_tokens} out={record.output_tokens}"
    retries = f" retries={record.retries}" if record.retries else ""
    if record.attempts:
        retries += f" attempts=[{loggable(record.attempts, 2000)}]"
    logger.info(
        "%s %s %s %s -> %s %d %.1fms%s%s%s",
        record.request_id,
        record.method,
        record.path,
        loggable(record.model or "-"),
        loggable(record.route or "-"),
        record.status,
        record.latency_ms,
        " stream" if record.stream else "",
        tokens,
        retries,
    )
