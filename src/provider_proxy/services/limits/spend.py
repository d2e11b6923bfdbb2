"""Budgets start from what the usage store says each key has spent, so a restart does not reset them."""

from __future__ import annotations

import logging
import time

from provider_proxy.config.keys import KeySet
from provider_proxy.services.limits.limiter import Limiter
from provider_proxy.services.limits.rates import Refusal, period_start
from provider_proxy.services.usage.period import Period
from provider_proxy.services.usage.report import Pricing, usage_report
from provider_proxy.services.usage.writer import UsageWriter

logger = logging.getLogger(__name__)


async def seed_budgets(keys: KeySet, writer: UsageWriter | None, pricing: Pricing, limiter: Limiter) -> None:
    """Today's and this month's spend of every key with a budget, from the usage rows (priced as
    `provider-proxy usage` prices them). Without usage tracking, budgets count from start-up."""
    names = {key.name for key in keys.by_digest.values() if key.daily_budget or key.monthly_budget}
    if not names:
        return
    if writer is None:
        logger.warning("USAGE_TRACKING is off: key budgets count only what was spent since the proxy started")
        return
    now = time.time()
    spend: dict[str, tuple[float, float]] = {}
    budgets: tuple[tuple[Refusal, int], ...] = (("daily_budget", 0), ("monthly_budget", 1))
    for budget, position in budgets:
        start = period_start(budget, now).timestamp()
        report = await usage_report(writer.store, Period(start, now + 1), "key", pricing)
        for row in report.rows:
            if row.group in names and row.cost:
                day, month = spend.get(row.group, (0.0, 0.0))
                spend[row.group] = (row.cost, month) if position == 0 else (day, row.cost)
    await limiter.seed(spend)
