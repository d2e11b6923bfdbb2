"""Fault injection over real HTTP: an upstream that refuses, resets, stalls, sends broken JSON, SSE or
UTF-8, an error inside a 200, HTML, pieces too large or a stream that never ends. Each case gets its
Anthropic error (a response, or the `error` event of a stream already begun) within seconds, and leaves
nothing behind: the proxy's upstream connections, its asyncio tasks and the process's open file
descriptors come back to where they were before the case.

The upstream closes every connection after its answer, so that the pool holds nothing between cases
and a connection the proxy fails to release shows in the count.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from provider_proxy.utils.sse import SSEDecoder
from tests.support.proxy_server import ProxyServer
from tests.support.raw_upstream import Behaviour, RawUpstream, reset, wait_for_close

REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
}
COMPLETION = {
    "id": "c",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}
STALL = 0.5  # REQUEST_TIMEOUT in these tests
TOTAL = 1.5  # TOTAL_TIMEOUT


def answer(body: bytes, *headers: str, status: str = "200 OK", length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", "Connection: close", *headers]
    lines.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def send(data: bytes, then: Behaviour | None = None) -> Behaviour:
    def behave(conn: socket.socket) -> None:
        conn.sendall(data)
        if then is not None:
            then(conn)

    return behave


def event(data: Any) -> bytes:
    return b"data: " + (data if isinstance(data, bytes) else orjson.dumps(data)) + b"\n\n"


def delta(content: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}


FINISH = event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}) + b"data: [DONE]\n\n"
STREAM_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def stream(*events: bytes | float, then: Behaviour | None = None, head: bytes = STREAM_HEAD) -> Behaviour:
    """A chunked event stream (a float is a pause in seconds); `then` instead of its proper end."""

    def behave(conn: socket.socket) -> None:
        conn.sendall(head)
        for piece in events:
            if isinstance(piece, float):
                time.sleep(piece)
            else:
                conn.sendall(chunk(piece))
        if then is None:
            conn.sendall(b"0\r\n\r\n")
        else:
            then(conn)

    return behave


def trickle(data: bytes, pause: float = 0.05) -> Behaviour:
    """`data` a byte at a time: every read arrives within REQUEST_TIMEOUT, the whole never does."""

    def behave(conn: socket.socket) -> None:
        for byte in data:
            conn.sendall(bytes([byte]))
            time.sleep(pause)

    return behave


def forever(piece: bytes, pause: float = 0.0) -> Behaviour:
    """A stream that never ends: `piece` again and again until the proxy goes away."""

    def behave(conn: socket.socket) -> None:
        conn.sendall(STREAM_HEAD)
        while True:
            conn.sendall(chunk(piece))
            if pause:
                time.sleep(pause)

    return behave


def gzip_bomb(conn: socket.socket) -> None:
    """A streamed body that inflates a thousand-fold: 16 MB of one line without end, from ~16 KB."""
    body = gzip.compress(b"data: " + b"0" * (16 << 20), compresslevel=6)
    head = STREAM_HEAD.replace(b"\r\n\r\n", b"\r\nContent-Encoding: gzip\r\n\r\n")
    stream(body, head=head)(conn)


INVALID_UTF8_COMPLETION = orjson.dumps(COMPLETION).replace(b"fine", b"caf\xc3")
INVALID_UTF8_CHUNK = orjson.dumps(delta("caf!")).replace(b"!", b"\xc3")


@dataclass(frozen=True)
class Case:
    behaviour: Behaviour | None  # None: the upstream is down (connects refused)
    stream: bool
    status: int  # the response's status
    error: str  # the error type, of the response or of the stream's last event
    fragment: str = ""  # a piece of the error message
    leave_after: int = 0  # the client leaves after this many bytes of the stream (0: reads to the end)


CASES = {
    "refused-connect": Case(None, False, 502, "api_error", "Could not connect"),
    "refused-connect-stream": Case(None, True, 502, "api_error", "Could not connect"),
    "reset-before-head": Case(reset, False, 502, "api_error"),
    "closed-before-head-stream": Case(lambda conn: None, True, 502, "api_error"),
    "reset-mid-body": Case(send(answer(b'{"choices": [', length=500), reset), False, 502, "api_error"),
    "reset-mid-stream": Case(stream(event(delta("Hi")), then=reset), True, 200, "api_error", "broke off"),
    "stall-before-head": Case(wait_for_close, False, 504, "timeout_error"),
    "stall-before-head-stream": Case(wait_for_close, True, 504, "timeout_error"),
    "stall-mid-body": Case(send(answer(b'{"id": ', length=500), wait_for_close), False, 504, "timeout_error"),
    "stall-mid-stream": Case(stream(event(delta("Hi")), then=wait_for_close), True, 200, "timeout_error"),
    # Every read arrives in time, but not the whole within TOTAL_TIMEOUT.
    "head-trickled": Case(trickle(answer(b"{}", "X-Pad: " + "a" * 100)), False, 504, "timeout_error"),
    "body-trickled": Case(send(answer(b"{", length=200), trickle(b" " * 200)), False, 504, "timeout_error"),
    "malformed-json": Case(send(answer(b'{"choices": [{"index": 0,')), False, 502, "api_error", "not a chat"),
    "malformed-sse-json": Case(stream(event(b"{not json")), True, 200, "api_error", "not a chat completion chunk"),
    "html-200": Case(send(answer(b"<html><body>Sign in</body></html>")), False, 502, "api_error", "<html>"),
    "html-200-stream": Case(
        stream(b"<html><body>Sign in</body></html>", head=STREAM_HEAD.replace(b"text/event-stream", b"text/html")),
        True,
        200,
        "api_error",
    ),
    "error-in-200": Case(
        send(answer(orjson.dumps({"error": {"message": "quota gone", "code": 429}}))),
        False,
        502,
        "rate_limit_error",
        "quota gone",
    ),
    # In the first read, the stream can still become an error response (or fall back); later, an error event.
    "error-in-200-stream-first-read": Case(
        stream(event({"error": {"message": "quota gone", "code": 429}})), True, 502, "rate_limit_error", "quota gone"
    ),
    "error-in-200-stream": Case(
        stream(event(delta("Hi")), 0.1, event({"error": {"message": "quota gone", "code": 429}})),
        True,
        200,
        "rate_limit_error",
        "quota gone",
    ),
    # Bytes that are not UTF-8 become replacement characters, streaming or not: the answer goes through.
    "invalid-utf8": Case(send(answer(INVALID_UTF8_COMPLETION)), False, 200, ""),
    "invalid-utf8-stream": Case(stream(event(INVALID_UTF8_CHUNK), event(delta(" ok")), FINISH), True, 200, ""),
    "garbage-not-http": Case(send(b"SSH-2.0-OpenSSH_9.6\r\n"), False, 502, "api_error"),
    "head-too-large": Case(send(answer(b"{}", "X-Big: " + "a" * (70 << 10))), False, 502, "api_error"),
    "too-many-headers": Case(
        send(answer(b"{}", *(f"X-H{n}: {n}" for n in range(150)))), False, 502, "api_error", "headers"
    ),
    "declared-body-too-large": Case(send(answer(b"", length=1 << 40)), False, 502, "api_error"),
    "sse-line-too-long": Case(stream(b"data: " + b"x" * (2 << 20)), True, 200, "api_error", "1048576"),
    "compression-bomb-stream": Case(gzip_bomb, True, 200, "api_error", "1048576"),
    "endless-keep-alive-comments": Case(forever(b": keep-alive\n\n", 0.05), True, 200, "timeout_error"),
    "endless-empty-chunks": Case(forever(event({"choices": []}), 0.05), True, 200, "timeout_error"),
    "endless-content-client-leaves": Case(forever(event(delta("more ")), 0.01), True, 200, "", leave_after=4096),
}


def resources(proxy: ProxyServer) -> tuple[int, int, int]:
    """(upstream connections open, asyncio tasks in the proxy's loop, open file descriptors)."""
    upstream = proxy.app.state.proxy.upstream
    pool, tasks = proxy.call(lambda: (upstream.connection_count, len(asyncio.all_tasks())))
    return pool, tasks, len(os.listdir("/proc/self/fd"))


def settled(proxy: ProxyServer, baseline: tuple[int, int, int], wait: float = 2.0) -> tuple[int, int, int]:
    deadline = time.monotonic() + wait
    while (now := resources(proxy)) != baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    return now


@pytest.fixture
def raw() -> Iterator[RawUpstream]:
    upstream = RawUpstream().start()
    yield upstream
    upstream.stop_listening()


def ask(proxy: ProxyServer, case: Case) -> tuple[int, dict[str, Any]]:
    """The status and the error: the response's body, or the last event of a stream."""
    body = {**REQUEST, "stream": case.stream}
    with httpx.stream("POST", f"{proxy.url}/v1/messages", json=body, timeout=10) as response:
        if response.status_code != 200 or not case.stream:
            return response.status_code, orjson.loads(response.read())
        received = b""
        for piece in response.iter_bytes():
            received += piece
            if case.leave_after and len(received) >= case.leave_after:
                return 200, {}
    decoder = SSEDecoder()
    events = decoder.feed(received) + decoder.close()
    return 200, orjson.loads(events[-1].data)


@pytest.mark.parametrize("name", list(CASES))
def test_each_upstream_fault_gets_its_error_and_leaves_nothing_behind(
    start_proxy: Callable[..., ProxyServer], raw: RawUpstream, name: str
) -> None:
    case = CASES[name]
    proxy = start_proxy(openai_base_url=raw.url, request_timeout=STALL, total_timeout=TOTAL, ping_interval=0.2)
    raw.behaviour = send(answer(orjson.dumps(COMPLETION)))
    assert httpx.post(f"{proxy.url}/v1/messages", json=REQUEST, timeout=10).status_code == 200  # warm
    if case.behaviour is None:
        raw.stop_listening()
    else:
        raw.behaviour = case.behaviour
    deadline = time.monotonic() + 2  # the warm-up's connections are closed on every side
    while (proxy.client_connections or not raw.idle()) and time.monotonic() < deadline:
        time.sleep(0.02)
    baseline = resources(proxy)
    assert baseline[0] == 0, "the upstream closes its connections: the pool should be empty"
    started = time.monotonic()
    status, body = ask(proxy, case)
    assert time.monotonic() - started < 5
    assert status == case.status, body
    if case.error:
        assert body["type"] == "error", body
        assert body["error"]["type"] == case.error, body
        assert case.fragment in body["error"]["message"]
    elif not case.leave_after:
        assert body["type"] == ("message_stop" if case.stream else "message"), body
    assert settled(proxy, baseline) == baseline, "(upstream connections, tasks, file descriptors) after the case"
    deadline = time.monotonic() + 2
    while not raw.idle() and time.monotonic() < deadline:  # the upstream saw its connection closed
        time.sleep(0.02)
    assert raw.idle()
