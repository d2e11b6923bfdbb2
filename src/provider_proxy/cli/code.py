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

from provider_proxy.config.settings import Settings

INSTALL_HINT = (
    "Claude Code is not installed (no `claude` on PATH and CLAUDE_CODE_BIN is not set). "
    "Install it with: npm install -g @anthropic-ai/claude-code"
)
SMALL_CLAUDE_MODEL = "claude-haiku-4-5"
_LOOPBACK_FOR = {"0.0.0.0": "127.0.0.1", "::": "127.0.0.1", "": "127.0.0.1"}


@dataclass(frozen=True, slots=True)
class Launch:
    base_url: str
    token: str

    def environment(self) -> dict[str, str]:
        return {"ANTHROPIC_BASE_URL": self.base_url, "ANTHROPIC_AUTH_TOKEN": self.token}

    def defaults(self) -> dict[str, str]:
        """Set unless the user chose otherwise: Claude Code's background work (titles, summaries,
        Explore agents) then asks for a haiku model, which the proxy routes to SMALL_MODEL."""
        return {"ANTHROPIC_DEFAULT_HAIKU_MODEL": SMALL_CLAUDE_MODEL, "ANTHROPIC_SMALL_FAST_MODEL": SMALL_CLAUDE_MODEL}

    def exports(self) -> str:
        values = {**self.defaults(), **self.environment()}
        return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in values.items())


def launch_for(settings: Settings) -> Launch:
    host = _LOOPBACK_FOR.get(settings.host, settings.host)
    token = settings.proxy_api_key.get_secret_value() if settings.proxy_api_key else "provider-proxy"
    return Launch(base_url=f"http://{host}:{settings.port}", token=token)


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
