"""The dashboard's JSON: buckets, per-model series, percentiles and top lists from either store."""

from __future__ import annotations

from provider_proxy.dashboard.data import MAX_BUCKETS, bucket_seconds, dashboard_data, percentile
from provider_proxy.services.usage.period import Period
from provider_proxy.services.usage.store import UsageStore
from tests.support.usage_data import record

T0 = 1_780_012_800.0  # a UTC midnight


def test_buckets_keep_every_chart_under_the_point_limit() -> None:
    assert bucket_seconds(Period(T0, T0 + 86400)) == 900
    assert bucket_seconds(Period(T0, T0 + 7 * 86400)) == 3 * 3600
    for days in (0.01, 1, 7, 30, 90, 365):
        period = Period(T0, T0 + days * 86400)
        assert (period.end - period.start) / bucket_seconds(period) <= MAX_BUCKETS or days == 365


def test_percentiles_use_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.99)) == (50, 95, 99)
    assert percentile([], 0.5) is None


async def test_series_fill_every_bucket_and_sum_small_models_as_other(store: UsageStore) -> None:
    models = [f"model-{n}" for n in range(8)]
    records = [record(request_id=f"r{n}", ts=T0 + 3600 * (n % 3), model=m) for n, m in enumerate(models)]
    records.append(record(request_id="bad", ts=T0 + 60, error_type="api_error", status=500, latency_ms=9999.0))
    await store.insert(records)
    data = await dashboard_data(store, Period(T0, T0 + 6 * 3600))
    assert data["period"]["bucket_seconds"] == 300
    assert len(data["buckets"]) == 72 and data["buckets"][0] == T0
    assert data["series"]["models"][-1] == "other" and len(data["series"]["models"]) == 7
    assert sum(sum(values) for values in data["series"]["requests"].values()) == 9
    assert data["series"]["errors"][0] == 1 and data["series"]["error_rate"][0] == 0.25  # 3 models at T0 + the failure
    assert data["series"]["error_rate"][1] is None
    assert data["totals"]["requests"] == 9 and data["totals"]["latency_ms"]["p99"] == 250.0
    assert data["errors_by_type"] == [{"type": "api_error", "count": 1}]
    assert data["top_keys"][0]["group"] == "-"


def test_buckets_of_a_period_of_centuries_are_whole_weeks_under_the_point_limit() -> None:
    for years in (2, 10, 1000, 9000):
        period = Period(T0 - years * 365.25 * 86400, T0)
        size = bucket_seconds(period)
        assert size % (7 * 86400) == 0
        assert (period.end - period.start) / size <= MAX_BUCKETS
