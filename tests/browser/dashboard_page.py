"""Seeding a store with demo usage and capturing the dashboard: used by the browser test and by
`python -m tests.browser.dashboard_page docs/dashboard.png` for the README screenshot."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from provider_proxy.config.settings import load_settings
from provider_proxy.services.usage.record import RequestRecord
from provider_proxy.services.usage.sqlite_store import SQLiteStore
from tests.support.chromium import FLAGS, require_chromium
from tests.support.proxy_server import ProxyServer
from tests.support.usage_data import demo_records

PRICES = """
[prices."qwen/qwen3-coder"]
input_per_mtok = 0.22
output_per_mtok = 0.95
[prices."llama-3.3-70b-versatile"]
input_per_mtok = 0.59
output_per_mtok = 0.79
[prices."gpt-5"]
input_per_mtok = 1.25
output_per_mtok = 10.0
cache_read_per_mtok = 0.125
"""


def seed(data_dir: Path, records: list[RequestRecord]) -> None:
    async def write() -> None:
        store = SQLiteStore(data_dir / "usage.db")
        await store.open()
        await store.insert(records)
        await store.close()

    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, write()).result()


def open_dashboard(browser: Browser, url: str, width: int = 1360, scheme: str = "light") -> Page:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)  # type: ignore[arg-type]
    page.goto(url)
    page.wait_for_selector('svg[data-chart="requests"] rect.bar')
    page.wait_for_selector('svg[data-chart="latency"] [data-series]', state="attached")  # a flat line has no height
    return page


def main(target: Path) -> None:
    """The README screenshot: a week of demo traffic, priced, in light mode."""
    with tempfile.TemporaryDirectory() as work:
        data, config = Path(work) / "data", Path(work) / "proxy.toml"
        seed(data, demo_records(time.time(), days=7))
        config.write_text(PRICES)
        settings = load_settings(env_file=None, data_dir=data, config_file=config, openai_api_key="sk-demo-0000")
        server = ProxyServer(settings).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(require_chromium()), args=list(FLAGS))
                page = open_dashboard(browser, f"{server.url}/dashboard?since=7d")
                page.screenshot(path=str(target), full_page=True)
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/dashboard.png"))
