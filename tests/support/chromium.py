"""Headless Chromium for browser tests: the Debian `chromium` package driven by Playwright.

Playwright's own browser downloads are never used (`executable_path` points at the system
binary). Running as root needs `--no-sandbox`; the other flags keep Chromium off the network.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.apt import require_package

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def find_chromium() -> Path | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def require_chromium() -> Path:
    return require_package("chromium", find_chromium, "the dashboard browser test")
