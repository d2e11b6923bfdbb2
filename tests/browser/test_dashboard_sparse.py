"""A new user's first hour: all the usage in one time bucket, or in buckets with gaps between them.
Every latency series must still be drawn visibly (a path of one point draws nothing)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser

from tests.browser.dashboard_page import open_dashboard, seed
from tests.support.proxy_server import ProxyServer
from tests.support.usage_data import record

# Width and height of what each latency series draws, largest element first.
_DRAWN = """(chart) => ["p50", "p95", "p99"].map((name) => Math.max(0, ...[...chart.querySelectorAll(
    `[data-series="${name}"]`)].map((node) => { const box = node.getBBox(); return box.width * box.height; })))"""


def _latency_areas(browser: Browser, proxy: ProxyServer) -> list[float]:
    page = open_dashboard(browser, f"{proxy.url}/dashboard?since=24h")
    return list(page.locator('svg[data-chart="latency"]').evaluate(_DRAWN))


def test_usage_in_a_single_bucket_draws_every_latency_series(
    browser: Browser, start_proxy: Callable[..., ProxyServer], tmp_path: Path
) -> None:
    now = time.time()
    seed(tmp_path / "data", [record(request_id=f"r{n}", ts=now - 60 - n, latency_ms=200.0 + 50 * n) for n in range(5)])
    proxy = start_proxy(data_dir=tmp_path / "data")
    assert all(area > 0 for area in _latency_areas(browser, proxy))


def test_buckets_separated_by_gaps_are_drawn_as_dots(
    browser: Browser, start_proxy: Callable[..., ProxyServer], tmp_path: Path
) -> None:
    now = time.time()
    seed(tmp_path / "data", [record(request_id=f"r{n}", ts=now - 60 - n * 3 * 3600) for n in range(3)])
    proxy = start_proxy(data_dir=tmp_path / "data")
    page = open_dashboard(browser, f"{proxy.url}/dashboard?since=24h")
    assert page.locator('svg[data-chart="latency"] circle.point').count() == 3 * 3
    assert page.locator('svg[data-chart="latency"] path.line').count() == 0
