"""Prometheus metrics for `GET /metrics`, in a registry owned by one app (never the global one).

Updated once per finished request from its usage record: counters and histograms only, plus the
in-flight streams gauge that streaming responses move up and down.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from provider_proxy.services.usage.record import UsageRecord

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
_TTFT_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 60)
_UNKNOWN: Final = "unknown"


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

    def observe(self, record: UsageRecord) -> None:
        provider = record.provider or _UNKNOWN
        model = record.upstream_model or _UNKNOWN
        self.requests.labels(record.model or _UNKNOWN, provider, str(record.status)).inc()
        if record.error_type is not None:
            self.errors.labels(record.error_type).inc()
        self.latency.labels(provider, "true" if record.stream else "false").observe(record.latency_ms / 1000)
        if record.ttft_ms is not None:
            self.ttft.labels(provider).observe(record.ttft_ms / 1000)
        if record.input_tokens:
            self.tokens.labels("input", provider, model).inc(record.input_tokens)
        if record.output_tokens:
            self.tokens.labels("output", provider, model).inc(record.output_tokens)
        if record.cache_read_tokens:
            self.tokens.labels("cache_read", provider, model).inc(record.cache_read_tokens)

    def render(self) -> bytes:
        return generate_latest(self.registry)
