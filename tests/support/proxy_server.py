"""The proxy served by uvicorn on 127.0.0.1, in a thread, for tests over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

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
