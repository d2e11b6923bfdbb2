"""The proxy served by uvicorn on 127.0.0.1, in a thread, for tests over real HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import uvicorn

from provider_proxy.app import create_app
from provider_proxy.config.settings import Settings
from provider_proxy.server import server_options

T = TypeVar("T")


class _Server(uvicorn.Server):
    loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().startup(sockets)


class ProxyServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        # The options `provider-proxy serve` uses: its client connections, limits included.
        config = uvicorn.Config(self.app, lifespan="on", **server_options(settings))
        self._server = _Server(config)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ProxyServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the proxy did not start")
            time.sleep(0.01)
        return self

    def call(self, function: Callable[[], T]) -> T:
        """`function()` run in the server's event loop (for reading its state without a race)."""
        loop = self._server.loop
        assert loop is not None, "the proxy is not started"

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(5)

    @property
    def client_connections(self) -> int:
        """Client connections open."""
        return self.call(lambda: len(self._server.server_state.connections))

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()


class ProxyProcess:
    """`python -m provider_proxy serve` in a child process, for tests that kill it (SIGKILL, SIGTERM).

    `env` is added to the test's environment (without the developer's provider and proxy variables);
    the output goes to `log` (a file: a pipe nobody reads would block the proxy once full).
    """

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.log = log
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.upper().startswith(("OPENAI_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "USAGE_"))
        }
        self.env = inherited | {"PORT": str(self.port), "LOG_LEVEL": "INFO"} | env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> ProxyProcess:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "provider_proxy", "serve", "--env-file", str(self.log.with_suffix(".env"))],
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the proxy exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"the proxy did not answer within {timeout}s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the kernel's OOM killer strikes."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        """SIGTERM and wait for a clean exit; the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
