"""Client connections cannot hold the proxy: idle connections close, a head or body sent at a trickle ends
in a 408, a head too large or with too many lines in a 431, a request that is not HTTP in a 400: each
answer in Anthropic's error shape, and the connection closed. Raw sockets against the served proxy."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import pytest

from provider_proxy import client_protocol
from tests.support.fake_upstream import FakeUpstream, Reply, sse
from tests.support.proxy_server import ProxyServer

BODY = orjson.dumps({"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})


def head(*extra: str, length: int = len(BODY)) -> bytes:
    lines = ["POST /v1/messages HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [*extra, f"Content-Length: {length}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@contextmanager
def connect(proxy: ProxyServer) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        yield sock


def read_until_closed(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    received = b""
    while piece := sock.recv(65536):
        received += piece
    return received


def parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head_part, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head_part.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, orjson.loads(body) if body else None


def assert_refused(raw: bytes, status: int, error_type: str, fragment: str) -> None:
    code, headers, body = parse(raw)
    assert code == status, raw[:300]
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert headers["request-id"].startswith("req_")
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert fragment in body["error"]["message"]


def trickle(sock: socket.socket, data: bytes, pause: float, until: float) -> None:
    """Send `data` a byte at a time, `pause` seconds apart, until it is sent, refused or `until` passes."""
    for byte in data:
        if time.monotonic() > until:
            return
        try:
            sock.send(bytes([byte]))
        except OSError:
            return
        time.sleep(pause)


@pytest.fixture
def limited(start_proxy: Callable[..., ProxyServer], monkeypatch: pytest.MonkeyPatch) -> ProxyServer:
    monkeypatch.setattr(client_protocol, "LINGER", 0.2)  # refused connections close sooner: shorter tests
    return start_proxy(
        client_idle_timeout=0.5,
        client_header_timeout=0.8,
        client_body_timeout=0.8,
        client_max_header_bytes=4096,
        client_max_headers=20,
    )


def test_a_connection_that_never_sends_a_request_is_closed_after_the_idle_timeout(limited: ProxyServer) -> None:
    with connect(limited) as sock:
        started = time.monotonic()
        assert read_until_closed(sock) == b""
    assert 0.4 < time.monotonic() - started < 3


def test_a_keep_alive_connection_idle_after_its_answer_is_closed_after_the_idle_timeout(limited: ProxyServer) -> None:
    with connect(limited) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 200")
    assert 0.4 < time.monotonic() - started < 3


def test_headers_sent_at_a_trickle_get_a_408_after_the_header_timeout(
    limited: ProxyServer, upstream: FakeUpstream
) -> None:
    with connect(limited) as sock:
        started = time.monotonic()
        # A byte every 0.05 s: every read resets uvicorn's idle timer, but not the header deadline.
        trickle(sock, head() + BODY, 0.05, until=started + 5)
        raw = read_until_closed(sock)
    elapsed = time.monotonic() - started
    assert_refused(raw, 408, "timeout_error", "CLIENT_HEADER_TIMEOUT")
    assert 0.7 < elapsed < 3
    assert upstream.requests == []


def test_a_body_sent_at_a_trickle_gets_a_408_after_the_body_timeout(
    limited: ProxyServer, upstream: FakeUpstream
) -> None:
    with connect(limited) as sock:
        sock.sendall(head())
        started = time.monotonic()
        trickle(sock, BODY, 0.05, until=started + 5)
        raw = read_until_closed(sock)
    elapsed = time.monotonic() - started
    assert_refused(raw, 408, "timeout_error", "CLIENT_BODY_TIMEOUT")
    assert 0.7 < elapsed < 3
    assert upstream.requests == []


def test_a_request_in_several_pieces_within_the_deadlines_is_served(limited: ProxyServer) -> None:
    request = head() + BODY
    with connect(limited) as sock:
        for start in range(0, len(request), 40):
            sock.sendall(request[start : start + 40])
            time.sleep(0.02)
        sock.settimeout(10)
        raw = sock.recv(65536)
    assert raw.startswith(b"HTTP/1.1 200"), raw[:300]


def test_a_head_over_the_byte_limit_in_one_piece_gets_a_431(limited: ProxyServer, upstream: FakeUpstream) -> None:
    with connect(limited) as sock:
        sock.sendall(head(f"X-Big: {'a' * 5000}") + BODY)
        raw = read_until_closed(sock)
    assert_refused(raw, 431, "invalid_request_error", "CLIENT_MAX_HEADER_BYTES")
    assert upstream.requests == []


def test_a_head_that_has_not_ended_is_refused_once_it_passes_the_limit(limited: ProxyServer) -> None:
    with connect(limited) as sock:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nX-Endless: ")
        for _ in range(6):  # 6 KB of one header line, never ended: the proxy does not wait for its end
            sock.sendall(b"a" * 1024)
            time.sleep(0.02)
        raw = read_until_closed(sock)
    assert_refused(raw, 431, "invalid_request_error", "CLIENT_MAX_HEADER_BYTES")


def test_more_header_lines_than_the_limit_get_a_431(limited: ProxyServer, upstream: FakeUpstream) -> None:
    with connect(limited) as sock:
        sock.sendall(head(*(f"X-Line-{n}: {n}" for n in range(30))) + BODY)
        raw = read_until_closed(sock)
    assert_refused(raw, 431, "invalid_request_error", "CLIENT_MAX_HEADERS")
    assert upstream.requests == []


def test_a_body_larger_than_the_header_limit_in_the_same_read_is_not_mistaken_for_a_large_head(
    limited: ProxyServer,
) -> None:
    body = orjson.dumps({**orjson.loads(BODY), "messages": [{"role": "user", "content": "x" * 20_000}]})
    with connect(limited) as sock:
        sock.sendall(head(length=len(body)) + body)
        sock.settimeout(10)
        raw = sock.recv(65536)
    assert raw.startswith(b"HTTP/1.1 200"), raw[:300]


def test_a_request_that_is_not_http_gets_an_anthropic_400(limited: ProxyServer) -> None:
    with connect(limited) as sock:
        sock.sendall(b"HELLO THERE\x00\r\n\r\n")
        raw = read_until_closed(sock)
    assert_refused(raw, 400, "invalid_request_error", "not valid HTTP/1.1")


def test_a_body_still_trickling_after_an_early_answer_is_cut_without_a_second_answer(limited: ProxyServer) -> None:
    with connect(limited) as sock:
        # /health answers without reading the body; the body keeps coming, a byte at a time.
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        started = time.monotonic()
        trickle(sock, b"x" * 1000, 0.05, until=started + 5)
        raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 200") and raw.count(b"HTTP/1.1") == 1, raw
    assert time.monotonic() - started < 3


def test_a_stream_longer_than_every_client_deadline_is_not_cut(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream
) -> None:
    proxy = start_proxy(client_idle_timeout=0.3, client_header_timeout=0.3, client_body_timeout=0.3)
    first = {"choices": [{"index": 0, "delta": {"content": "slow"}, "finish_reason": None}]}
    last = {"choices": [{"index": 0, "delta": {"content": " but whole"}, "finish_reason": "stop"}]}
    upstream.queue(Reply(stream=sse(first, 1.2, last)))
    body = {**orjson.loads(BODY), "stream": True}
    response = httpx.post(f"{proxy.url}/v1/messages", json=body, timeout=10)
    assert response.status_code == 200
    assert b"but whole" in response.content and b"message_stop" in response.content
