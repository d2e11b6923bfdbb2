"""Prometheus metrics for `GET /metrics`, in a registry owned by one app (never the global one).

Updated once per finished request from its usage record: counters and histograms only, plus the
in-flight streams gauge that streaming responses move up and down.

Model names come from clients, and every label value is a series kept for the life of the process, so
they are folded. A requested model keeps its name when the configuration names it, or when it is shaped
like Anthropic's own ids (`claude-sonnet-4-5`, `claude-3-5-haiku-20241022`) and is one of the first
`MAX_CLAUDE_NAMES` such names seen; any other Claude family name counts as its family (`claude-opus`).
An upstream model keeps its name when the configuration names it. Everything else (unknown and
pass-through names) is counted as `other`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from provider_proxy.services.routing import claude_family
from provider_proxy.services.usage.record import RequestRecord

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
_TTFT_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 60)
_UNKNOWN: Final = "unknown"
_OTHER: Final = "other"
# Distinct Claude ids kept as label values; later ones count as their family.
MAX_CLAUDE_NAMES: Final = 64
_CLAUDE_ID: Final = re.compile(r"claude-(?:\d+-)*(?:opus|sonnet|haiku)(?:-\d+)*(?:-latest)?")


_CACHE_LIMIT: Final = 4096


@dataclass(frozen=True, slots=True)
class _Series:
    requests: Counter
    latency: Histogram
    ttft: Histogram
    input_tokens: Counter
    output_tokens: Counter
    cache_read_tokens: Counter
    cache_creation_tokens: Counter


class ProxyMetrics:
    def __init__(self, known_models: frozenset[str] = frozenset()) -> None:
        self._known_models = known_models
        self._claude_names: set[str] = set()
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
            "Tokens by direction (input, output, cache_read, cache_creation).",
            ("direction", "provider", "model"),
            registry=registry,
        )
        self.streams_in_flight = Gauge("proxy_streams_in_flight", "Streams being served now.", registry=registry)
        self.usage_backlog = Gauge(
            "proxy_usage_backlog",
            "Usage records not yet in the store: waiting in memory or in the local journal.",
            registry=registry,
        )
        self.usage_not_written = Gauge(
            "proxy_usage_not_written",
            "Usage records never written: dropped from a full queue or given up at shutdown (without a journal).",
            registry=registry,
        )
        self.limited = Counter(
            "proxy_limited", "Requests refused by a client key's limit, by limit.", ("limit",), registry=registry
        )
        self.overloaded = Counter(
            "proxy_overloaded",
            "Requests refused with 529 because the proxy was full, by reason (queue_full, queue_timeout, streams).",
            ("reason",),
            registry=registry,
        )
        self.requests_in_flight = Gauge(
            "proxy_requests_in_flight", "/v1/messages requests being served.", registry=registry
        )
        self.requests_queued = Gauge(
            "proxy_requests_queued", "Requests waiting for a slot (MAX_CONCURRENT_REQUESTS).", registry=registry
        )
        self.limits_shared_up = Gauge(
            "proxy_limits_shared_up",
            "1 while per-key limits are counted in Redis, 0 while Redis is unreachable (counted per process).",
            registry=registry,
        )
        self.limits_store_errors = Counter(
            "proxy_limits_store_errors", "Failed calls to Redis for per-key limits.", registry=registry
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
        if record.cache_creation_tokens:
            series.cache_creation_tokens.inc(record.cache_creation_tokens)

    def _series(self, record: RequestRecord) -> _Series:
        """The labelled children for this record, looked up once per label combination."""
        requested, model = self._requested_label(record.model), self._upstream_label(record.upstream_model)
        key = (requested, record.provider, model, record.status, record.stream)
        series = self._cache.get(key)
        if series is None:
            provider = record.provider or _UNKNOWN
            series = _Series(
                requests=self.requests.labels(requested, provider, str(record.status)),
                latency=self.latency.labels(provider, "true" if record.stream else "false"),
                ttft=self.ttft.labels(provider),
                input_tokens=self.tokens.labels("input", provider, model),
                output_tokens=self.tokens.labels("output", provider, model),
                cache_read_tokens=self.tokens.labels("cache_read", provider, model),
                cache_creation_tokens=self.tokens.labels("cache_creation", provider, model),
            )
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = series
        return series

    def _requested_label(self, name: str | None) -> str:
        if name is None:
            return _UNKNOWN
        if name in self._known_models or name in self._claude_names:
            return name
        family = claude_family(name)
        if family is None:
            return _OTHER
        if len(self._claude_names) < MAX_CLAUDE_NAMES and _CLAUDE_ID.fullmatch(name):
            self._claude_names.add(name)
            return name
        return f"claude-{family}"

    def _upstream_label(self, name: str | None) -> str:
        if name is None:
            return _UNKNOWN
        return name if name in self._known_models else _OTHER

    def render(self) -> bytes:
        return generate_latest(self.registry)
