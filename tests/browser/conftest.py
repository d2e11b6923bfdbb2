"""Browser fixtures: headless Chromium (the Debian package) through Playwright's sync API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.chromium import FLAGS, require_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped: Playwright's sync API keeps an event loop running in the main thread while it
    is active, which would break later tests that call asyncio.run()."""
    executable = require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), args=list(FLAGS), headless=True)
        yield launched
        launched.close()
