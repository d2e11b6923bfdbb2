"""Prometheus metrics for `GET /metrics`, in a registry owned by one app (never the global one).

Updated once per finished request from its usage record: counters and histograms only, plus the
in-flight streams gauge that streaming responses move up and down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from provider_proxy.services.usage.record import RequestRecord

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
_TTFT_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 60)
_UNKNOWN: Final = "unknown"


_CACHE_LIMIT: Final = 4096


@dataclass(frozen=True, slots=True)
class _Series:
    requests: Counter
    latency: Histogram
    ttft: Histogram
    input_tokens: Counter
    output_tokens: Counter
    cache_read_tokens: Counter


class ProxyMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "proxy_requests", "Finished /v1/messages requests.", ("model", "provider", "status"), registry=registry
        )
        self.errors = Counter("proxy_errors", "Failed requests by Anthropic error type.", ("type",), registry=registry)
        self.latency = Histogram(
            "proxy_request_duration_seconds",
            "Time from request to the end of the response or stream.",
            ("provider", "stream"),
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.ttft = Histogram(
            "proxy_time_to_first_token_seconds",
            "Streaming: time until the first content delta is sent.",
            ("provider",),
            buckets=_TTFT_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "proxy_tokens",
            "Tokens by direction (input, output, cache_read).",
            ("direction", "provider", "model"),
            registry=registry,
        )
        self.streams_in_flight = Gauge("proxy_streams_in_flight", "Streams being served now.", registry=registry)
        self.usage_backlog = Gauge(
            "proxy_usage_backlog", "Usage records waiting to be written to the store.", registry=registry
        )
        self.usage_not_written = Gauge(
            "proxy_usage_not_written",
            "Usage records never written: dropped from a full queue, or given up at shutdown.",
            registry=registry,
        )
        self._cache: dict[tuple[object, ...], _Series] = {}

    def observe(self, record: RequestRecord) -> None:
        series = self._series(record)
        series.requests.inc()
        if record.error_type is not None:
            self.errors.labels(record.error_type).inc()
        series.latency.observe(record.latency_ms / 1000)
        if record.ttft_ms is not None:
            series.ttft.observe(record.ttft_ms / 1000)
        if record.input_tokens:
            series.input_tokens.inc(record.input_tokens)
        if record.output_tokens:
            series.output_tokens.inc(record.output_tokens)
        if record.cache_read_tokens:
            series.cache_read_tokens.inc(record.cache_read_tokens)

    def _series(self, record: RequestRecord) -> _Series:
        """The labelled children for this record, looked up once per label combination."""
        key = (record.model, record.provider, record.upstream_model, record.status, record.stream)
        series = self._cache.get(key)
        if series is None:
            provider = record.provider or _UNKNOWN
            model = record.upstream_model or _UNKNOWN
            series = _Series(
                requests=self.requests.labels(record.model or _UNKNOWN, provider, str(record.status)),
                latency=self.latency.labels(provider, "true" if record.stream else "false"),
                ttft=self.ttft.labels(provider),
                input_tokens=self.tokens.labels("input", provider, model),
                output_tokens=self.tokens.labels("output", provider, model),
                cache_read_tokens=self.tokens.labels("cache_read", provider, model),
            )
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = series
        return series

    def render(self) -> bytes:
        return generate_latest(self.registry)
