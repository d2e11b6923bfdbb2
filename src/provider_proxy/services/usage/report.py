"""Usage totals and breakdowns (by model, provider, key or day) over a period, with cost.

Cost comes from per-model prices (dollars per million tokens): the config file's `[prices."model"]`,
looked up by upstream model first, then by the requested model; else the upstream model's facts
(its `[models."name"]` prices, then the model facts dataset's list prices for the provider that
served it). Cache reads without a price of their own are charged at the input price.

Requests refused before they named a model (a wrong PROXY_API_KEY, a body that is not a valid
request) are counted apart, as `rejected`, not as a group of the breakdown: the rows plus the
rejected requests make the totals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from provider_proxy.config.proxy_config import PriceEntry, ProxyConfig, build_config
from provider_proxy.config.settings import Settings
from provider_proxy.providers.model_facts import Prices
from provider_proxy.services.usage.period import Period, day_label
from provider_proxy.services.usage.store import UsageStore, store_from_settings
from provider_proxy.utils.cache import BoundedCache

# Breakdown name -> SQL expression (a fixed table: never user text in SQL).
DIMENSIONS: Final = {
    "model": "model",
    "upstream_model": "upstream_model",
    "provider": "provider",
    "key": "key_name",
    "session": "session_id",
    "route": "route",
    "day": "ts_ms / 86400000",
}
REJECTED: Final = "(rejected)"
_QUERY: Final = """
SELECT {dimension}, model, upstream_model, provider, COUNT(*),
       SUM(CASE WHEN error_type IS NULL THEN 0 ELSE 1 END),
       SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)), SUM(COALESCE(cache_read_tokens, 0)),
       SUM(latency_ms), SUM(CASE WHEN error_type = 'interrupted' THEN 1 ELSE 0 END)
FROM usage_records WHERE ts_ms >= ? AND ts_ms < ?
GROUP BY 1, 2, 3, 4
"""


@dataclass(slots=True)
class UsageRow:
    group: str
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    latency_ms_total: float = 0.0
    cost: float | None = None
    # Of the errors: streams cut off when their proxy process died (recorded from its journal).
    interrupted: int = 0

    @property
    def avg_latency_ms(self) -> float:
        return self.latency_ms_total / self.requests if self.requests else 0.0

    def add(self, counts: tuple[Any, ...], cost: float | None) -> None:
        requests, errors, input_tokens, output_tokens, cache_read, latency, interrupted = counts
        self.requests += int(requests)
        self.errors += int(errors or 0)
        self.input_tokens += int(input_tokens or 0)
        self.output_tokens += int(output_tokens or 0)
        self.cache_read_tokens += int(cache_read or 0)
        self.latency_ms_total += float(latency or 0)
        self.interrupted += int(interrupted or 0)
        if cost is not None:
            self.cost = (self.cost or 0.0) + cost

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        del values["latency_ms_total"]
        return {**values, "avg_latency_ms": round(self.avg_latency_ms, 1)}


@dataclass(slots=True)
class UsageReport:
    period: Period
    by: str
    totals: UsageRow
    rows: list[UsageRow]
    unpriced: list[str] = field(default_factory=list)
    rejected: UsageRow = field(default_factory=lambda: UsageRow(REJECTED))

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.period.start,
            "until": self.period.end,
            "by": self.by,
            "totals": self.totals.as_dict(),
            "rows": [row.as_dict() for row in self.rows],
            "rejected": self.rejected.as_dict(),
            "unpriced_models": self.unpriced,
        }


@dataclass(frozen=True, slots=True)
class Pricing:
    """Where a usage row's price comes from: the file's `[prices]` (upstream model, then requested
    model), else `dataset(upstream model, provider name)`: the model's facts, which carry the
    `[models]` entry's prices over the dataset's."""

    file_prices: Mapping[str, PriceEntry] = field(default_factory=dict)
    dataset: Callable[[str, str | None], Prices | None] | None = None

    @classmethod
    def from_config(cls, config: ProxyConfig) -> Pricing:
        def dataset(upstream_model: str, provider_name: str | None) -> Prices | None:
            provider = config.providers.get(provider_name or "")
            return config.facts_for(upstream_model, provider.profile.kind if provider else None).prices

        return cls(config.prices, dataset)

    # Looked up per finished request of a key with a budget: remembered (names come from clients: bounded).
    # (A 1-tuple, so that "no price" is remembered too.)
    _known: BoundedCache[tuple[str | None, str | None, str | None], tuple[Prices | None]] = field(
        default_factory=lambda: BoundedCache(1024), compare=False, repr=False
    )

    def price_for(self, upstream_model: str | None, model: str | None, provider: str | None = None) -> Prices | None:
        key = (upstream_model, model, provider)
        known = self._known.get(key)
        if known is None:
            known = self._known.put(key, (self._price(upstream_model, model, provider),))
        return known[0]

    def _price(self, upstream_model: str | None, model: str | None, provider: str | None) -> Prices | None:
        for name in (upstream_model, model):
            if name is not None and name in self.file_prices:
                return self.file_prices[name].prices()
        if upstream_model is not None and self.dataset is not None:
            return self.dataset(upstream_model, provider)
        return None


def _day_order(row: UsageRow) -> tuple[str]:
    return (row.group,)


def _busiest_first(row: UsageRow) -> tuple[int, int, str]:
    return (-row.requests, -(row.input_tokens + row.output_tokens), row.group)


async def usage_report(
    store: UsageStore, period: Period, by: str = "model", pricing: Pricing | None = None
) -> UsageReport:
    """The report; without `pricing`, no cost at all."""
    if by not in DIMENSIONS:
        raise ValueError(f"cannot break usage down by {by!r}; use one of: {', '.join(DIMENSIONS)}")
    rows = await store.select(_QUERY.format(dimension=DIMENSIONS[by]), (period.start_ms, period.end_ms))
    totals, groups, unpriced, rejected = UsageRow("total"), dict[str, UsageRow](), set[str](), UsageRow(REJECTED)
    for group, model, upstream_model, provider, *counts in rows:
        if model is None:
            rejected.add(tuple(counts), None)
            totals.add(tuple(counts), None)
            continue
        price = pricing.price_for(upstream_model, model, provider) if pricing is not None else None
        cost = None if price is None else price.cost(int(counts[2] or 0), int(counts[3] or 0), int(counts[4] or 0))
        if pricing is not None and price is None:
            unpriced.add(upstream_model or model or "unknown")
        name = day_label(int(group)) if by == "day" and group is not None else str(group or "-")
        groups.setdefault(name, UsageRow(name)).add(tuple(counts), cost)
        totals.add(tuple(counts), cost)
    ordered = sorted(groups.values(), key=_day_order if by == "day" else _busiest_first)
    return UsageReport(period, by, totals, ordered, sorted(unpriced), rejected)


async def load_report(settings: Settings, period: Period, by: str = "model") -> UsageReport:
    """The report from the configured store, priced from the config file and the model facts."""
    pricing = Pricing.from_config(build_config(settings))
    store = store_from_settings(settings)
    await store.open()
    try:
        return await usage_report(store, period, by, pricing)
    finally:
        await store.close()
