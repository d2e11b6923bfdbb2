"""Per-key limits on the request path: admit a request or refuse it in Anthropic's words, count it
when it ends.

Counts live in Redis when REDIS_URL is set (every replica sees the same numbers), else in this process.
When Redis cannot be reached the limiter keeps counting in this process (each replica then allows the
full limit on its own) and says so once in the log and in `/metrics` (`proxy_limits_shared_up` 0); with
LIMITS_FAIL_CLOSED it refuses limited requests with 529 until Redis answers again. Redis is asked
again at most every `_RETRY_SECONDS` while it is down, so an outage costs no request a timeout.

Only keys with a limit are counted; a request made with any other key never reaches this module.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final, TypeVar

from provider_proxy.config.keys import ClientKey
from provider_proxy.errors import ProxyError
from provider_proxy.services.limits.rates import LocalCounters, Verdict, month_label, period_end
from provider_proxy.services.metrics import ProxyMetrics

if TYPE_CHECKING:
    from provider_proxy.services.limits.shared import SharedCounters

logger = logging.getLogger(__name__)

_RETRY_SECONDS: Final = 5.0
T = TypeVar("T")


class Limiter:
    def __init__(self, metrics: ProxyMetrics, redis_url: str | None = None, *, fail_closed: bool = False) -> None:
        self.local = LocalCounters()
        self.shared: SharedCounters | None = None
        # What an unreachable Redis raises (the client is imported only when Redis is configured).
        self._unreachable: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError)
        if redis_url:
            from redis.exceptions import RedisError

            from provider_proxy.services.limits.shared import SharedCounters

            self.shared = SharedCounters(redis_url)
            self._unreachable += (RedisError,)
            metrics.limits_shared_up.set(1)
        self.fail_closed = fail_closed
        self._metrics = metrics
        self._retry_at = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    async def admit(self, key: ClientKey) -> Verdict:
        """The verdict for a request made with `key` (counted); raises the client's error when refused."""
        now = time.time()
        if self.shared is None:
            verdict = self.local.admit(key, now)
        else:
            verdict = await self._counted(lambda shared: shared.admit(key, now), lambda: self.local.admit(key, now))
        if verdict.refused is not None:
            self._metrics.limited.labels(verdict.refused).inc()
            raise refusal(key, verdict, now)
        return verdict

    def settle(self, key: ClientKey, tokens: int, cost: float) -> None:
        """Count what a finished request used (in the background when counts live in Redis)."""
        if not tokens and not cost:
            return
        now = time.time()
        if self.shared is None:
            self.local.settle(key, tokens, cost, now)
            return
        task = asyncio.get_running_loop().create_task(
            self._counted(
                lambda shared: shared.settle(key, tokens, cost, now),
                lambda: self.local.settle(key, tokens, cost, now),
            )
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def seed(self, spend: dict[str, tuple[float, float]]) -> None:
        """Start the budgets from what the usage store knows each key spent today and this month."""
        now = time.time()
        for name, (day, month) in spend.items():
            self.local.seed(name, day, month, now)
        if self.shared is not None:
            await self._counted(lambda shared: shared.seed_spends(spend, now), lambda: None)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.shared is not None:
            await self.shared.close()

    async def _counted(
        self, shared_call: Callable[[SharedCounters], Coroutine[Any, Any, T]], local_call: Callable[[], T]
    ) -> T:
        shared = self.shared
        if shared is not None and time.monotonic() >= self._retry_at:
            try:
                result = await shared_call(shared)
            except self._unreachable as exc:
                self._down(exc)
            else:
                if self._retry_at:
                    self._retry_at = 0.0
                    self._metrics.limits_shared_up.set(1)
                    logger.warning("Redis answers again: per-key limits are shared across replicas again")
                return result
        if shared is not None and self.fail_closed:
            raise ProxyError(
                "overloaded_error",
                "per-key limits cannot be checked (Redis at REDIS_URL is unreachable and LIMITS_FAIL_CLOSED is "
                "set); try again shortly",
            )
        return local_call()

    def _down(self, exc: BaseException) -> None:
        self._metrics.limits_store_errors.inc()
        if not self._retry_at:
            self._metrics.limits_shared_up.set(0)
            action = "refusing limited requests" if self.fail_closed else "counting in this process only"
            logger.warning("Redis unreachable for per-key limits (%s): %s until it answers", type(exc).__name__, action)
        self._retry_at = time.monotonic() + _RETRY_SECONDS


def refusal(key: ClientKey, verdict: Verdict, now: float) -> ProxyError:
    """The client's error for a refused request: 429 for a rate, with when to retry; for a budget, the
    400 Anthropic sends when an organisation's spend limit is reached (clients do not retry it)."""
    refused = verdict.refused
    if refused == "daily_budget" or refused == "monthly_budget":
        budget = key.daily_budget if refused == "daily_budget" else key.monthly_budget
        period = "today (UTC)" if refused == "daily_budget" else f"in {month_label(now)}"
        until = period_end(refused, now)
        return ProxyError(
            "invalid_request_error",
            f"key {key.name!r} has reached its {refused.replace('_', ' ')} of ${budget:.2f} (${verdict.spent:.2f} "
            f"spent {period}); you will regain access on {until:%Y-%m-%d} at 00:00 UTC",
        )
    limit = f"{key.rpm} requests" if refused == "requests" else f"{key.tpm} tokens"
    retry = max(1, math.ceil(verdict.retry_after))
    return ProxyError(
        "rate_limit_error",
        f"key {key.name!r} is limited to {limit} per minute; try again in {retry} s",
        headers={"retry-after": str(retry), **rate_headers(verdict, now)},
    )


def rate_headers(verdict: Verdict, now: float) -> dict[str, str]:
    """Anthropic's rate-limit headers for a key's request and token windows."""
    headers: dict[str, str] = {}
    for name, shown in (("requests", verdict.requests), ("tokens", verdict.tokens)):
        if shown is not None:
            prefix = f"anthropic-ratelimit-{name}"
            reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(now + shown.reset)))
            headers |= {f"{prefix}-limit": str(shown.limit), f"{prefix}-remaining": str(shown.remaining)}
            headers[f"{prefix}-reset"] = reset
    return headers
