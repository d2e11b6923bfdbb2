"""Usage reports: totals, breakdowns and cost over a period, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from provider_proxy.config.proxy_config import PriceEntry, build_config
from provider_proxy.config.settings import load_settings
from provider_proxy.providers.model_facts import Prices, model_facts
from provider_proxy.services.usage.period import Period, PeriodError, parse_period
from provider_proxy.services.usage.report import Pricing, usage_report
from provider_proxy.services.usage.store import UsageStore
from tests.support.usage_data import record

DAY = 86400.0
T0 = 1_780_012_800.0  # 2026-05-29 00:00 UTC
RECORDS = [
    record(request_id="r1", ts=T0 + 10, input_tokens=1000, output_tokens=100, latency_ms=100.0, key_name="default"),
    record(request_id="r2", ts=T0 + 20, input_tokens=3000, output_tokens=300, cache_read_tokens=500, latency_ms=300.0),
    record(
        request_id="r3",
        ts=T0 + DAY + 5,
        model="claude-haiku-4-5",
        provider="groq",
        upstream_model="llama",
        input_tokens=None,
        output_tokens=None,
        status=429,
        error_type="rate_limit_error",
        latency_ms=50.0,
    ),
    record(request_id="too-late", ts=T0 + 3 * DAY),
]
PERIOD = Period(T0, T0 + 2 * DAY)


async def test_totals_count_requests_errors_and_tokens_in_the_period_only(store: UsageStore) -> None:
    await store.insert(RECORDS)
    report = await usage_report(store, PERIOD)
    totals = report.totals
    assert (totals.requests, totals.errors, totals.input_tokens, totals.output_tokens) == (3, 1, 4000, 400)
    assert totals.cache_read_tokens == 500 and totals.avg_latency_ms == pytest.approx(150.0)
    assert totals.cost is None


@pytest.mark.parametrize(
    ("by", "groups"),
    [
        ("model", {"claude-sonnet-4-6": 2, "claude-haiku-4-5": 1}),
        ("upstream_model", {"gpt-4.1": 2, "llama": 1}),
        ("provider", {"default": 2, "groq": 1}),
        ("key", {"default": 1, "-": 2}),
        ("day", {"2026-05-29": 2, "2026-05-30": 1}),
    ],
)
async def test_breakdowns_group_requests_by_each_dimension(store: UsageStore, by: str, groups: dict[str, int]) -> None:
    await store.insert(RECORDS)
    report = await usage_report(store, PERIOD, by)
    assert {row.group: row.requests for row in report.rows} == groups


async def test_cost_uses_upstream_model_prices_and_names_unpriced_models(store: UsageStore) -> None:
    await store.insert(RECORDS)
    prices = {"gpt-4.1": PriceEntry(input_per_mtok=2.0, output_per_mtok=8.0, cache_read_per_mtok=0.5)}
    report = await usage_report(store, PERIOD, "model", Pricing(prices))
    # 4000 input * $2 + 400 output * $8 + 500 cache reads * $0.5, per million
    assert report.totals.cost == pytest.approx((4000 * 2 + 400 * 8 + 500 * 0.5) / 1e6)
    assert report.unpriced == ["llama"]


async def test_an_unknown_breakdown_is_refused_with_the_choices(store: UsageStore) -> None:
    with pytest.raises(ValueError, match="model, upstream_model, provider, key, session, route, day"):
        await usage_report(store, PERIOD, "colour")


def test_periods_take_spans_back_from_now_and_utc_dates() -> None:
    now = T0 + 12 * 3600
    assert parse_period("7d", now=now) == Period(now - 7 * DAY, now)
    assert parse_period("90m", now=now).start == now - 5400
    assert parse_period("2026-05-29", "2026-05-30", now=now) == Period(T0, T0 + DAY)
    with pytest.raises(PeriodError, match="not a span"):
        parse_period("last tuesday")
    with pytest.raises(PeriodError, match="empty"):
        parse_period("2026-05-30", "2026-05-29")


async def test_without_file_prices_the_cost_comes_from_the_model_facts(store: UsageStore) -> None:
    await store.insert(RECORDS)
    dataset = {"gpt-4.1": Prices(2.0, 8.0, 0.5)}
    report = await usage_report(store, PERIOD, "model", Pricing({}, lambda model, provider: dataset.get(model)))
    assert report.totals.cost == pytest.approx((4000 * 2 + 400 * 8 + 500 * 0.5) / 1e6)
    assert report.unpriced == ["llama"]


async def test_the_file_price_wins_over_the_model_facts(store: UsageStore) -> None:
    await store.insert(RECORDS)
    file_prices = {"gpt-4.1": PriceEntry(input_per_mtok=1.0, output_per_mtok=1.0)}
    report = await usage_report(store, PERIOD, "model", Pricing(file_prices, lambda model, provider: Prices(9, 9)))
    assert report.totals.cost == pytest.approx((4000 + 400 + 500) / 1e6)
    # llama has no file price: the facts price it (its failed request used no tokens).
    assert report.unpriced == []


async def test_pricing_from_the_config_uses_the_dataset_for_the_provider_that_served(store: UsageStore) -> None:
    await store.insert(RECORDS)
    config = build_config(load_settings(env_file=None, openai_api_key="k"))
    report = await usage_report(store, PERIOD, "model", Pricing.from_config(config))
    listed = model_facts("gpt-4.1", "generic").prices
    assert listed is not None and report.totals.cost is not None
    assert report.totals.cost == pytest.approx(listed.cost(4000, 400, 500))


async def test_interrupted_streams_count_as_errors_and_are_named_in_the_table(store: UsageStore) -> None:
    from rich.console import Console

    from provider_proxy.cli.tables import as_table

    cut = record(request_id="r4", ts=T0 + 30, stream=True, error_type="interrupted", output_tokens=None)
    await store.insert([*RECORDS, cut])
    report = await usage_report(store, PERIOD)
    assert (report.totals.requests, report.totals.errors, report.totals.interrupted) == (4, 2, 1)
    assert report.as_dict()["totals"]["interrupted"] == 1
    console = Console(record=True, width=200)
    console.print(as_table(report))
    text = " ".join(console.export_text().split())  # the caption wraps at the table's width
    assert "1 of the errors are interrupted streams: cut off when their proxy process died" in text
