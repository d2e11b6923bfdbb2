"""Per-key rates (GCRA) and budgets as arithmetic, and the concurrency gate."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from provider_proxy.config.keys import ClientKey
from provider_proxy.errors import ProxyError
from provider_proxy.services.admission import Gate
from provider_proxy.services.limits.limiter import rate_headers, refusal
from provider_proxy.services.limits.rates import ALLOWED, LocalCounters, day_label, month_label, period_end
from provider_proxy.services.metrics import ProxyMetrics

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()


def key(**limits: object) -> ClientKey:
    return ClientKey("alice", b"\0" * 32, **limits)  # type: ignore[arg-type]


def test_a_key_may_burst_its_whole_minute_then_one_request_per_interval() -> None:
    counters, alice = LocalCounters(), key(rpm=3)
    verdicts = [counters.admit(alice, NOW) for _ in range(4)]
    assert [v.refused for v in verdicts] == [None, None, None, "requests"]
    assert verdicts[3].requests is not None and verdicts[3].requests.remaining == 0
    assert verdicts[3].retry_after == pytest.approx(20.0)
    assert counters.admit(alice, NOW + 19.9).refused == "requests"
    assert counters.admit(alice, NOW + 20.0).refused is None


def test_refused_requests_are_not_counted() -> None:
    counters, alice = LocalCounters(), key(rpm=1)
    assert counters.admit(alice, NOW).refused is None
    for second in range(1, 60):
        assert counters.admit(alice, NOW + second).refused == "requests"
    assert counters.admit(alice, NOW + 60).refused is None


def test_tokens_are_counted_after_the_answer_and_refuse_once_a_minute_is_used() -> None:
    counters, alice = LocalCounters(), key(tpm=1000)
    assert counters.admit(alice, NOW).refused is None
    counters.settle(alice, 1500, 0.0, NOW)  # one request may overshoot, as Anthropic's limits allow
    verdict = counters.admit(alice, NOW + 1)
    assert verdict.refused == "tokens"
    assert verdict.tokens is not None and verdict.tokens.remaining == 0
    # 1500 tokens at 1000/min: 90 s of debt, 30 s past a full minute, less the second already gone.
    assert verdict.retry_after == pytest.approx(30.0)
    assert counters.admit(alice, NOW + 31).refused is None


def test_budgets_refuse_once_spent_and_reset_with_their_period() -> None:
    counters, alice = LocalCounters(), key(daily_budget=1.0, monthly_budget=1.5)
    counters.settle(alice, 10, 1.0, NOW)
    assert counters.admit(alice, NOW).refused == "daily_budget"
    tomorrow = NOW + 86400
    assert counters.admit(alice, tomorrow).refused is None
    counters.settle(alice, 10, 0.5, tomorrow)
    assert counters.admit(alice, tomorrow).refused == "monthly_budget"
    next_month = datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC).timestamp()
    assert counters.admit(alice, next_month).refused is None


def test_budget_periods_end_at_utc_midnight_and_the_first_of_the_month() -> None:
    assert period_end("daily_budget", NOW) == datetime(2026, 12, 2, tzinfo=UTC)
    assert period_end("monthly_budget", NOW) == datetime(2027, 1, 1, tzinfo=UTC)
    last_second = datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC).timestamp()
    assert (day_label(NOW), day_label(last_second), day_label(last_second + 0.001)) == (
        "2026-12-01",
        "2026-12-31",
        "2027-01-01",
    )
    assert (month_label(last_second), month_label(last_second + 0.001), day_label(NOW)) == (
        "2026-12",
        "2027-01",
        "2026-12-01",
    )


def test_a_rate_refusal_is_a_429_with_retry_after_and_anthropic_headers() -> None:
    counters, alice = LocalCounters(), key(rpm=1, tpm=100)
    counters.admit(alice, NOW)
    error = refusal(alice, counters.admit(alice, NOW + 0.5), NOW + 0.5)
    assert (error.status, error.error_type) == (429, "rate_limit_error")
    assert "1 requests per minute" in error.message and "'alice'" in error.message
    assert error.headers["retry-after"] == "60"
    assert error.headers["anthropic-ratelimit-requests-limit"] == "1"
    assert error.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert error.headers["anthropic-ratelimit-requests-reset"] == "2026-12-01T12:01:00Z"
    assert error.headers["anthropic-ratelimit-tokens-remaining"] == "100"


def test_a_budget_refusal_says_which_budget_and_when_access_returns() -> None:
    counters, alice = LocalCounters(), key(monthly_budget=20.0)
    counters.settle(alice, 10, 20.5, NOW)
    error = refusal(alice, counters.admit(alice, NOW), NOW)
    # What Anthropic answers when an organisation's spend limit is reached: a 400 clients do not retry.
    assert (error.status, error.error_type) == (400, "invalid_request_error")
    assert "monthly budget of $20.00 ($20.50 spent in 2026-12)" in error.message
    assert "regain access on 2027-01-01 at 00:00 UTC" in error.message


def test_a_refusals_headers_show_the_other_window_too() -> None:
    counters, alice = LocalCounters(), key(rpm=10, tpm=1000)
    for _ in range(10):
        assert counters.admit(alice, NOW) == ALLOWED
    counters.settle(alice, 250, 0.0, NOW)
    headers = rate_headers(counters.admit(alice, NOW), NOW)
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["anthropic-ratelimit-requests-reset"] == "2026-12-01T12:01:00Z"
    assert headers["anthropic-ratelimit-tokens-remaining"] == "750"
    assert headers["anthropic-ratelimit-tokens-reset"] == "2026-12-01T12:00:15Z"


def test_a_key_allows_models_by_requested_name_or_target() -> None:
    assert key().allows("anything")
    limited = key(models=("claude-*haiku*", "cheap/*"))
    assert limited.allows("claude-haiku-4-5")
    assert limited.allows("claude-opus-4-5", "cheap/qwen3")
    assert not limited.allows("claude-opus-4-5", "default/gpt-5")


# -- the concurrency gate --


async def test_the_gate_refuses_at_once_when_its_line_is_full() -> None:
    gate = Gate(1, 0, 5.0, ProxyMetrics())
    assert gate.enter_now()
    with pytest.raises(ProxyError) as caught:
        await gate.enter()
    assert (caught.value.status, caught.value.error_type) == (529, "overloaded_error")
    assert "MAX_CONCURRENT_REQUESTS" in caught.value.message


async def test_a_waiter_gets_the_slot_that_comes_free_in_arrival_order() -> None:
    gate = Gate(1, 2, 5.0, ProxyMetrics())
    assert gate.enter_now()
    order: list[str] = []

    async def wait(name: str) -> None:
        await gate.enter()
        order.append(name)

    first, second = asyncio.create_task(wait("first")), asyncio.create_task(wait("second"))
    await asyncio.sleep(0.01)
    assert not gate.enter_now()  # waiters come before a newcomer
    gate.leave()
    await asyncio.sleep(0.01)
    assert order == ["first"] and gate.taken == 1
    gate.leave()
    await asyncio.gather(first, second)
    assert order == ["first", "second"]
    gate.leave()
    assert gate.taken == 0


async def test_a_waiter_gives_up_after_the_queue_timeout_with_a_529() -> None:
    metrics = ProxyMetrics()
    gate = Gate(1, 1, 0.05, metrics)
    assert gate.enter_now()
    with pytest.raises(ProxyError, match=r"no slot came free within 0\.05 s"):
        await gate.enter()
    gate.leave()
    assert gate.taken == 0 and gate.enter_now()
    assert metrics.overloaded.labels("queue_timeout")._value.get() == 1


async def test_a_cancelled_waiter_leaves_the_line_and_loses_no_slot() -> None:
    gate = Gate(1, 1, 5.0, ProxyMetrics())
    assert gate.enter_now()
    waiter = asyncio.create_task(gate.enter())
    await asyncio.sleep(0.01)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    gate.leave()
    assert gate.taken == 0
