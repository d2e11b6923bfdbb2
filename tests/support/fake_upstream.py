"""A scripted OpenAI-compatible upstream on 127.0.0.1 that records what it receives.

Runs in its own thread and event loop, so tests can drive the proxy with the synchronous SDKs.
Replies are queued per test (`queue`) or produced by a script function from the request body.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Streaming: byte pieces written as they are; a float is a pause in seconds between pieces.
    stream: list[bytes | float] | None = None
    # Drop the connection after the stream pieces instead of ending the response.
    abort: bool = False


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    # The request target as sent, percent-encoding and query included.
    raw_path: str = ""

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


def completion(
    content: str | None = "Hello!",
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str = "stop",
    usage: dict[str, Any] | None = None,
    **message_fields: Any,
) -> dict[str, Any]:
    """A chat.completion body."""
    message: dict[str, Any] = {"role": "assistant", "content": content, **message_fields}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1,
        "model": "upstream-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage if usage is not None else {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def sse(*chunks: Any, done: bool = True) -> list[bytes | float]:
    """Stream pieces from chunk objects (dicts are JSON-encoded; bytes and floats pass as they are)."""
    pieces: list[bytes | float] = []
    for chunk in chunks:
        if isinstance(chunk, dict):
            pieces.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
        else:
            pieces.append(chunk)
    if done:
        pieces.append(b"data: [DONE]\n\n")
    return pieces


def many_tool_calls(count: int) -> bytes:
    """A whole streamed answer with `count` tool calls (id and name, then two argument fragments each)."""

    def line(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return b"data: " + orjson.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [choice]}) + b"\n\n"

    lines = []
    for i in range(count):
        named = {"index": i, "id": f"call_{i}", "type": "function", "function": {"name": "Read", "arguments": ""}}
        lines.append(line({"tool_calls": [named]}))
        lines.append(line({"tool_calls": [{"index": i, "function": {"arguments": '{"file_path": '}}]}))
        lines.append(line({"tool_calls": [{"index": i, "function": {"arguments": f'"/src/f{i}.py"}}'}}]}))
    lines.append(line({}, "tool_calls"))
    return b"".join(lines) + b"data: [DONE]\n\n"


class FakeUpstream:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: deque[Reply] = deque()
        self.script: Callable[[Recorded], Reply] = lambda _: Reply(json=completion())
        self.client_gone = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def start(self) -> FakeUpstream:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = Recorded(
            method=request.method,
            path=request.path,
            query=request.query_string,
            headers=dict(request.headers),
            body=await request.read(),
            raw_path=request.raw_path,
        )
        self.requests.append(recorded)
        reply = self.replies.popleft() if self.replies else self.script(recorded)
        if reply.delay:
            try:
                await asyncio.sleep(reply.delay)
            except asyncio.CancelledError:
                # The proxy closed the connection before the answer (aiohttp cancels the handler).
                self.client_gone.set()
                raise
        if reply.stream is None:
            body = reply.body if reply.body is not None else orjson.dumps(reply.json)
            content_type = "application/json" if reply.body is None else "text/plain"
            return web.Response(status=reply.status, body=body, headers={"Content-Type": content_type, **reply.headers})
        return await self._stream(request, reply)

    async def _stream(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        response = web.StreamResponse(
            status=reply.status, headers={"Content-Type": "text/event-stream", **reply.headers}
        )
        await response.prepare(request)
        try:
            for piece in reply.stream or ():
                if isinstance(piece, float):
                    await asyncio.sleep(piece)
                else:
                    await response.write(piece)
            if reply.abort:
                assert request.transport is not None
                request.transport.abort()
                return response
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            self.client_gone.set()
            raise
        return response

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
