"""What the dashboard draws, as one JSON document: totals, per-model series over time, latency
percentiles, error rates and the top models and keys, for a period. Requests refused before they
named a model are counted apart (`rejected`, and a `rejected` series), never as a model.

Buckets are chosen so a chart has at most `MAX_BUCKETS` points; every bucket in the period is
present (zeros where nothing happened). Latency percentiles are over successful requests only,
computed here from the raw latencies of the period (nearest rank).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Final

from provider_proxy.services.usage.period import Period
from provider_proxy.services.usage.report import Pricing, usage_report
from provider_proxy.services.usage.store import UsageStore

MAX_BUCKETS: Final = 100
MAX_SERIES: Final = 6  # models drawn on their own; the rest are summed as "other"
OTHER: Final = "other"
_BUCKET_SIZES: Final = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
_QUANTILES: Final = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
_WHERE: Final = "FROM usage_records WHERE ts_ms >= ? AND ts_ms < ?"
_SERIES: Final = (
    "SELECT ts_ms / {bucket}, model, COUNT(*), SUM(CASE WHEN error_type IS NULL THEN 0 ELSE 1 END), "
    "SUM(COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0)) " + _WHERE + " GROUP BY 1, 2"
)
_LATENCIES: Final = "SELECT ts_ms / {bucket}, latency_ms, ttft_ms " + _WHERE + " AND error_type IS NULL"
_ERRORS: Final = "SELECT error_type, COUNT(*) " + _WHERE + " AND error_type IS NOT NULL GROUP BY 1 ORDER BY 2 DESC"


def bucket_seconds(period: Period) -> int:
    span = period.end - period.start
    fitting = next((size for size in _BUCKET_SIZES if span / size <= MAX_BUCKETS), None)
    if fitting is None:
        # Longer than MAX_BUCKETS weeks: buckets of as many whole weeks as it takes.
        week = _BUCKET_SIZES[-1]
        fitting = math.ceil(span / (MAX_BUCKETS * week)) * week
    return fitting


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted values; None when there are none."""
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))], 1)


async def dashboard_data(store: UsageStore, period: Period, pricing: Pricing | None = None) -> dict[str, Any]:
    size = bucket_seconds(period)
    first, last = int(period.start // size), int((period.end - 0.001) // size)
    buckets = list(range(first, last + 1))
    params = (period.start_ms, period.end_ms)
    by_model = await usage_report(store, period, "model", pricing)
    by_key = await usage_report(store, period, "key", pricing)
    by_session = await usage_report(store, period, "session", pricing)
    by_route = await usage_report(store, period, "route", pricing)
    series = _series(await store.select(_SERIES.format(bucket=size * 1000), params), buckets, by_model.rows)
    latency = _latency(await store.select(_LATENCIES.format(bucket=size * 1000), params), buckets)
    totals = by_model.totals.as_dict()
    totals["error_rate"] = by_model.totals.errors / by_model.totals.requests if by_model.totals.requests else 0.0
    return {
        "period": {"since": period.start, "until": period.end, "bucket_seconds": size},
        "buckets": [bucket * size for bucket in buckets],
        "totals": {**totals, **latency.pop("totals")},
        "series": {**series, "latency": latency},
        "top_models": [row.as_dict() for row in by_model.rows[:10]],
        "rejected": by_model.rejected.as_dict(),
        "top_keys": [row.as_dict() for row in by_key.rows[:10]],
        "top_sessions": [row.as_dict() for row in by_session.rows[:10]],
        "top_routes": [row.as_dict() for row in by_route.rows[:10]],
        "errors_by_type": [{"type": kind, "count": int(count)} for kind, count in await store.select(_ERRORS, params)],
        "unpriced_models": by_model.unpriced,
    }


def _series(rows: list[tuple[Any, ...]], buckets: list[int], ranked: Sequence[Any]) -> dict[str, Any]:
    shown = [row.group for row in ranked[:MAX_SERIES]]
    models = shown + ([OTHER] if len(ranked) > MAX_SERIES else [])
    position = {bucket: index for index, bucket in enumerate(buckets)}
    requests = {model: [0] * len(buckets) for model in models}
    tokens = {model: [0] * len(buckets) for model in models}
    errors = [0] * len(buckets)
    rejected = [0] * len(buckets)  # requests refused before they named a model: a series of their own
    for bucket, model, count, failed, used in rows:
        index = position.get(int(bucket))
        if index is None:
            continue
        errors[index] += int(failed or 0)
        if model is None:
            rejected[index] += int(count)
            continue
        name = model if model in requests and model != OTHER else OTHER
        requests[name][index] += int(count)
        tokens[name][index] += int(used or 0)
    totals = [sum(column) for column in zip(rejected, *requests.values(), strict=True)]
    rates = [failed / total if total else None for failed, total in zip(errors, totals, strict=True)]
    return {
        "models": models,
        "requests": requests,
        "rejected": rejected,
        "tokens": tokens,
        "errors": errors,
        "error_rate": rates,
    }


def _latency(rows: list[tuple[Any, ...]], buckets: list[int]) -> dict[str, Any]:
    per_bucket: dict[int, list[float]] = defaultdict(list)
    everything: list[float] = []
    ttfts: list[float] = []
    for bucket, latency, ttft in rows:
        per_bucket[int(bucket)].append(float(latency))
        everything.append(float(latency))
        if ttft is not None:
            ttfts.append(float(ttft))
    for values in (*per_bucket.values(), everything, ttfts):
        values.sort()
    result: dict[str, Any] = {name: [percentile(per_bucket.get(b, []), q) for b in buckets] for name, q in _QUANTILES}
    result["totals"] = {
        "latency_ms": {name: percentile(everything, q) for name, q in _QUANTILES},
        "ttft_ms": {name: percentile(ttfts, q) for name, q in _QUANTILES},
    }
    return result
