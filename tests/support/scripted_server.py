"""Scripted HTTP/1.1 servers on loopback for the upstream client's tests: a handler per test, raw asyncio streams.

A handler gets the connection's reader and writer and the `Server` record (connection count, requests
seen); `read_request` reads one request with a Content-Length body. `answer` renders a response.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from provider_proxy.services.http1 import HttpClient, Target, prepare

# What HttpClient reads from the environment: the tests of the client set them only on purpose.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "REQUEST_METHOD")

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


@dataclass
class Server:
    port: int = 0
    connections: int = 0
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)  # (head, body)

    async def read_request(self, reader: asyncio.StreamReader) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        self.requests.append((head, await reader.readexactly(length)))
        return True


@asynccontextmanager
async def serve(
    handler: Handler, ssl_context: ssl.SSLContext | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[Server]:
    state = Server()
    tasks: set[asyncio.Task[None]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        task = asyncio.current_task()
        if task is not None:
            tasks.add(task)
        try:
            await handler(reader, writer, state)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except asyncio.CancelledError:  # the test is over; ending quietly spares 3.11's stream callback a traceback
            pass
        finally:
            writer.close()
            if task is not None:
                tasks.discard(task)

    server = await asyncio.start_server(on_connect, host, port, ssl=ssl_context)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for task in list(tasks):  # handlers still sleeping or streaming: the test is over
            task.cancel()
        await server.wait_closed()


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers, f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def echo_forever(reply: Callable[[bytes], bytes]) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        while await server.read_request(reader):
            writer.write(reply(server.requests[-1][1]))
            await writer.drain()

    return handle


def clear_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@asynccontextmanager
async def client(**options: Any) -> AsyncIterator[HttpClient]:
    options.setdefault("connect_timeout", 2.0)
    options.setdefault("read_timeout", 5.0)
    http = HttpClient(**options)
    try:
        yield http
    finally:
        await http.close()


def target(server: Server, path: str = "/v1/chat/completions", scheme: str = "http", host: str = "127.0.0.1") -> Target:
    return prepare("POST", f"{scheme}://{host}:{server.port}{path}", [("Authorization", "Bearer sk-x")])


@contextmanager
def blackhole(host: str = "127.0.0.1", port: int = 0) -> Iterator[int]:
    """A port on `host` where connects hang: a listening socket whose one-slot backlog is already full."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as listener, socket.socket(family) as filler:
        listener.bind((host, port))
        listener.listen(0)
        filler.connect(listener.getsockname()[:2])
        yield listener.getsockname()[1]
