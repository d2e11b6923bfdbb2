"""The dashboard's top models table shows long model names whole, like the CLI's table."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser

from tests.browser.dashboard_page import open_dashboard, seed
from tests.support.proxy_server import ProxyServer
from tests.support.usage_data import record

NAMES = ("openrouter/qwen/qwen3-coder-480b-a35b-instruct-turbo", "openrouter/qwen/qwen3-coder-480b-a35b-instruct-fast")


def test_long_model_names_wrap_instead_of_being_cut(
    browser: Browser, start_proxy: Callable[..., ProxyServer], tmp_path: Path
) -> None:
    now = time.time()
    seed(tmp_path / "data", [record(request_id=name, ts=now - 60, model=name) for name in NAMES])
    proxy = start_proxy(data_dir=tmp_path / "data")
    page = open_dashboard(browser, f"{proxy.url}/dashboard?since=24h", width=1100)
    for name in NAMES:
        cell = page.locator(f'#top-models tr[data-name="{name}"] td.name')
        assert cell.inner_text().strip() == name
        assert cell.evaluate("td => td.scrollWidth <= td.clientWidth"), f"{name} is cut off"
