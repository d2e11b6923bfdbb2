"""The dashboard in real headless Chromium: charts render from a seeded store and the numbers on
the page match the seeded totals."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Browser

from tests.browser.dashboard_page import PRICES, open_dashboard, seed
from tests.support.proxy_server import ProxyServer
from tests.support.usage_data import demo_records

KEY = "dashboard-key-1234"


def test_dashboard_draws_charts_and_totals_from_the_store(
    browser: Browser, start_proxy: Callable[..., ProxyServer], tmp_path: Path
) -> None:
    records = demo_records(time.time(), days=6)
    seed(tmp_path / "data", records)
    config = tmp_path / "proxy.toml"
    config.write_text(PRICES)
    proxy = start_proxy(data_dir=tmp_path / "data", config_file=config, proxy_api_key=KEY)

    page = open_dashboard(browser, f"{proxy.url}/dashboard?since=7d&key={KEY}")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    assert page.locator('svg[data-chart="requests"] rect.bar').count() > 50
    assert page.locator('svg[data-chart="tokens"] path.area').count() == 3
    assert page.locator('svg[data-chart="latency"] path.line').count() == 3
    assert page.locator('svg[data-chart="errors"] rect.bar').count() > 0
    assert page.locator("#legend-requests span").all_inner_texts() == [
        "claude-sonnet-4-6",
        "claude-haiku-4-5",
        "claude-opus-4-7",
    ]
    assert page.locator('[data-kpi="requests"]').get_attribute("data-value") == str(len(records))
    failed = sum(record.error_type is not None for record in records)
    assert page.locator('[data-kpi="error_rate"] .note').inner_text() == f"{failed} failed"
    assert page.locator('[data-kpi="cost"] .value').inner_text().startswith("$")
    per_model = Counter(record.model for record in records)
    for model, count in per_model.items():
        shown = page.locator(f'#top-models tr[data-name="{model}"] td[data-field="requests"]').inner_text()
        assert shown == f"{count:,}"
    assert (tmp_path / "dashboard.png").stat().st_size > 20_000


def test_dashboard_and_its_data_need_the_proxy_key_when_one_is_set(start_proxy: Callable[..., ProxyServer]) -> None:
    proxy = start_proxy(proxy_api_key=KEY)
    for path in ("/dashboard", "/dashboard/data"):
        assert httpx.get(proxy.url + path).status_code == 401
        assert httpx.get(proxy.url + path, params={"key": KEY}).status_code == 200
        assert httpx.get(proxy.url + path, headers={"x-api-key": KEY}).status_code == 200
    assert httpx.get(proxy.url + "/dashboard/static/charts.js").status_code == 200


def test_dashboard_in_dark_mode_switches_the_palette(
    browser: Browser, start_proxy: Callable[..., ProxyServer], tmp_path: Path
) -> None:
    seed(tmp_path / "data", demo_records(time.time(), days=1))
    proxy = start_proxy(data_dir=tmp_path / "data")
    page = open_dashboard(browser, f"{proxy.url}/dashboard?since=24h", scheme="dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 17, 21)"
    page.screenshot(path=str(tmp_path / "dashboard-dark.png"), full_page=True)
