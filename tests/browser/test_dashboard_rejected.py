"""Rejected requests (refused before they named a model) are drawn and listed apart from the
models, never as a model named `-`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser

from tests.browser.dashboard_page import open_dashboard, seed
from tests.support.proxy_server import ProxyServer
from tests.support.usage_data import record

UNROUTED = {"model": None, "route": None, "provider": None, "upstream_model": None, "stop_reason": None}


def test_rejected_requests_have_their_own_series_and_table_row(
    browser: Browser, start_proxy: Callable[..., ProxyServer], tmp_path: Path
) -> None:
    now = time.time()
    refused = {**UNROUTED, "status": 401, "error_type": "authentication_error", "input_tokens": None}
    records = [record(request_id=f"ok{n}", ts=now - 600 * n - 60) for n in range(4)]
    records += [record(request_id=f"no{n}", ts=now - 900 * n - 60, **refused) for n in range(3)]
    seed(tmp_path / "data", records)
    proxy = start_proxy(data_dir=tmp_path / "data")
    page = open_dashboard(browser, f"{proxy.url}/dashboard?since=24h")

    assert page.locator("#legend-requests span").all_inner_texts() == ["claude-sonnet-4-6", "rejected"]
    assert page.locator('svg[data-chart="requests"] rect.bar[data-series="rejected"]').count() > 0
    model_rows = page.locator("#top-models tbody:not(.rejected) tr").evaluate_all(
        "rows => rows.map(r => r.dataset.name)"
    )
    assert model_rows == ["claude-sonnet-4-6"]
    rejected = page.locator("#top-models tbody.rejected tr")
    assert rejected.locator('td[data-field="requests"]').inner_text() == "3"
    assert rejected.locator("td.name").inner_text() == "Rejected (no model)"
    assert page.locator('[data-kpi="requests"]').get_attribute("data-value") == "7"
