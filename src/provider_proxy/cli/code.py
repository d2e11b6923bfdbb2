"""`provider-proxy code`: run Claude Code against this proxy, starting the proxy when needed."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from provider_proxy.config.proxy_config import build_config
from provider_proxy.config.settings import Settings
from provider_proxy.services.routing import Router
from provider_proxy.services.served_models import FAMILY_IDS

INSTALL_HINT = (
    "Claude Code is not installed (no `claude` on PATH and CLAUDE_CODE_BIN is not set). "
    "Install it with: npm install -g @anthropic-ai/claude-code"
)
SMALL_CLAUDE_MODEL = "claude-haiku-4-5"
# Claude Code reads CLAUDE_CODE_AUTO_COMPACT_WINDOW below this as this.
MIN_COMPACT_WINDOW = 100_000
# Below that, compaction is set to start at this share of the window: the rest holds the summary
# request's own prompt and its answer.
COMPACT_AT = 0.75
_LOOPBACK_FOR = {"0.0.0.0": "127.0.0.1", "::": "127.0.0.1", "": "127.0.0.1"}


def compaction_env(window: int | None) -> dict[str, str]:
    """What makes Claude Code compact before a `window`-token context fills, as measured with Claude
    Code 2.1.332 behind the proxy (tests/e2e/test_context_window.py): CLAUDE_CODE_AUTO_COMPACT_WINDOW
    works from 100,000 up (it then compacts about 30k below it); below 100,000 it counts as 100,000,
    and CLAUDE_AUTOCOMPACT_PCT_OVERRIDE (a percentage of that window, ignored alone for Claude names,
    whose window it takes as 1M) brings the threshold down."""
    if window is None:
        return {}
    if window >= MIN_COMPACT_WINDOW:
        return {"CLAUDE_CODE_AUTO_COMPACT_WINDOW": str(window)}
    percent = max(1, int(100 * COMPACT_AT * window / MIN_COMPACT_WINDOW))
    return {
        "CLAUDE_CODE_AUTO_COMPACT_WINDOW": str(MIN_COMPACT_WINDOW),
        "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE": str(percent),
    }


def main_window(settings: Settings) -> int | None:
    """The smallest known input window of the targets Claude Code's main conversation goes to (the
    opus and sonnet routes and their fallbacks); None when none is known."""
    config = build_config(settings)
    router = Router(config)
    windows = [
        target.facts.input_window
        for name in FAMILY_IDS
        if not name.startswith("claude-haiku")
        for target in router.resolve(name).targets
    ]
    known = [window for window in windows if window]
    return min(known) if known else None


@dataclass(frozen=True, slots=True)
class Launch:
    base_url: str
    token: str
    # The main routes' input window, when known: Claude Code is told to compact in time for it.
    window: int | None = None

    def environment(self) -> dict[str, str]:
        return {"ANTHROPIC_BASE_URL": self.base_url, "ANTHROPIC_AUTH_TOKEN": self.token}

    def defaults(self) -> dict[str, str]:
        """Set unless the user chose otherwise: Claude Code's background work (titles, summaries,
        Explore agents) then asks for a haiku model, which the proxy routes to SMALL_MODEL; and it
        compacts before the main routes' window fills."""
        return {
            "ANTHROPIC_DEFAULT_HAIKU_MODEL": SMALL_CLAUDE_MODEL,
            "ANTHROPIC_SMALL_FAST_MODEL": SMALL_CLAUDE_MODEL,
            **compaction_env(self.window),
        }

    def exports(self) -> str:
        values = {**self.defaults(), **self.environment()}
        return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in values.items())


def launch_for(settings: Settings) -> Launch:
    host = _LOOPBACK_FOR.get(settings.host, settings.host)
    # A named client key the user holds (`provider-proxy keys create`) wins over the operator's key.
    token = os.environ.get("ANTHROPIC_AUTH_TOKEN") or (
        settings.proxy_api_key.get_secret_value() if settings.proxy_api_key else "provider-proxy"
    )
    return Launch(base_url=f"http://{host}:{settings.port}", token=token, window=main_window(settings))


def is_healthy(base_url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_proxy(settings: Settings, log_path: Path, wait: float = 30.0) -> subprocess.Popen[bytes]:
    """Start `provider-proxy serve` in the background and wait until it answers /health."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "provider_proxy", "serve", "--host", settings.host, "--port", str(settings.port)]
    if settings.config_file:
        command += ["--config", str(settings.config_file)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + wait
    base_url = launch_for(settings).base_url
    while time.monotonic() < deadline:
        if is_healthy(base_url):
            return process
        if process.poll() is not None:
            raise RuntimeError(f"the proxy exited with code {process.returncode}; see {log_path}")
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"the proxy did not become healthy within {wait:g}s; see {log_path}")


def find_claude() -> str | None:
    return os.environ.get("CLAUDE_CODE_BIN") or shutil.which("claude")


def run_claude(claude: str, arguments: list[str], launch: Launch) -> int:
    environment = {**launch.defaults(), **os.environ, **launch.environment()}
    # An API key in the environment would be sent as well; the proxy's token is the one that counts.
    environment.pop("ANTHROPIC_API_KEY", None)
    return subprocess.call([claude, *arguments], env=environment)
