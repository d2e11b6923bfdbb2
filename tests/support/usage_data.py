"""Usage records for tests and the README screenshot: one-off records and a realistic demo week."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from provider_proxy.services.usage.record import RequestRecord


def from_row(row: tuple[Any, ...]) -> RequestRecord:
    """A record read back from `SELECT <COLUMNS>` (times in milliseconds in the table)."""
    ts_ms, request_id, key_name, model, route, provider, upstream_model, stream, *rest = row
    names = ("input_tokens", "output_tokens", "cache_read_tokens", "ttft_ms", "latency_ms", "status")
    names += ("error_type", "stop_reason", "retries", "attempts", "session_id", "cache_creation_tokens")
    return RequestRecord(
        ts=ts_ms / 1000,
        request_id=request_id,
        key_name=key_name,
        model=model,
        route=route,
        provider=provider,
        upstream_model=upstream_model,
        stream=bool(stream),
        **dict(zip(names, rest, strict=True)),
    )


BASE = RequestRecord(
    ts=1_780_000_000.0,
    request_id="req_base",
    key_name=None,
    model="claude-sonnet-4-6",
    route="default/gpt-4.1",
    provider="default",
    upstream_model="gpt-4.1",
    stream=False,
    input_tokens=100,
    output_tokens=20,
    cache_read_tokens=0,
    ttft_ms=None,
    latency_ms=250.0,
    status=200,
    error_type=None,
    stop_reason="end_turn",
    retries=0,
)

# Requested model -> (provider, upstream model, share of traffic, typical output tokens, latency ms)
_DEMO_MODELS = {
    "claude-sonnet-4-6": ("openrouter", "qwen/qwen3-coder", 0.55, 700, 4200.0),
    "claude-haiku-4-5": ("groq", "llama-3.3-70b-versatile", 0.3, 120, 650.0),
    "claude-opus-4-7": ("default", "gpt-5", 0.15, 1500, 9500.0),
}
_DEMO_KEYS = ("default", "ci-bot", "alice", "bob")
_DEMO_ERRORS = ("rate_limit_error", "overloaded_error", "api_error")


def record(**overrides: Any) -> RequestRecord:
    return replace(BASE, **overrides)


def demo_records(now: float, days: int = 7, seed: int = 7) -> list[RequestRecord]:
    """A week of plausible traffic: busier in working hours, three models, a few errors."""
    rng = random.Random(seed)
    records: list[RequestRecord] = []
    for hour in range(days * 24):
        start = now - (days * 24 - hour) * 3600
        busy = 1.0 if 8 <= (hour % 24) <= 19 else 0.25
        for _ in range(rng.randint(0, round(24 * busy))):
            records.append(_demo_record(rng, start + rng.random() * 3600, len(records)))
    return records


def _demo_record(rng: random.Random, ts: float, number: int) -> RequestRecord:
    model = rng.choices(list(_DEMO_MODELS), [share for _, _, share, _, _ in _DEMO_MODELS.values()])[0]
    provider, upstream_model, _, output, latency = _DEMO_MODELS[model]
    failed = rng.random() < 0.03
    stream = rng.random() < 0.85
    total = latency * rng.lognormvariate(0, 0.45)
    return record(
        ts=ts,
        request_id=f"req_demo{number:06d}",
        key_name=rng.choices(_DEMO_KEYS, [5, 2, 2, 1])[0],
        model=model,
        route=f"{provider}/{upstream_model}",
        provider=provider,
        upstream_model=upstream_model,
        stream=stream,
        input_tokens=None if failed else rng.randint(2_000, 40_000),
        output_tokens=None if failed else max(1, int(output * rng.lognormvariate(0, 0.6))),
        cache_read_tokens=0 if failed else rng.choice((0, 0, rng.randint(1_000, 20_000))),
        ttft_ms=total * rng.uniform(0.08, 0.2) if stream and not failed else None,
        latency_ms=total,
        status=429 if failed else 200,
        error_type=rng.choice(_DEMO_ERRORS) if failed else None,
        stop_reason=None if failed else rng.choice(("end_turn", "end_turn", "tool_use", "tool_use", "max_tokens")),
    )
