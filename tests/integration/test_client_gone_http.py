"""A client that goes away cancels its upstream call at once, also before the upstream's first byte:
the upstream sees its connection closed soon after the client left, not when its answer is ready."""

from __future__ import annotations

import socket
import time

import orjson
import pytest

from tests.support.fake_upstream import FakeUpstream, Reply, completion, sse
from tests.support.proxy_server import ProxyServer

CHUNK = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "late"}}]}


def send_and_leave(proxy: ProxyServer, upstream: FakeUpstream, *, stream: bool) -> None:
    """Send a request, wait until the upstream has it, then close the connection."""
    body = orjson.dumps(
        {
            "model": "claude-sonnet-4-6",
            "max_tokens": 10,
            "stream": stream,
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    head = (
        f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", proxy.port)) as client:
        client.sendall(head + body)
        upstream.wait_for_requests(1)
        assert len(upstream.requests) == 1
        time.sleep(0.3)  # the proxy is waiting for the upstream now
    assert not upstream.client_gone.is_set()


@pytest.mark.parametrize("stream", [False, True], ids=["non-streaming", "stream-before-first-byte"])
def test_a_client_that_leaves_before_the_answer_closes_the_upstream_connection(
    proxy: ProxyServer, upstream: FakeUpstream, stream: bool
) -> None:
    # The upstream takes 30 s to send even its status line.
    reply = Reply(delay=30.0, stream=sse(CHUNK)) if stream else Reply(delay=30.0, json=completion())
    upstream.queue(reply)
    left = time.monotonic()
    send_and_leave(proxy, upstream, stream=stream)
    assert upstream.client_gone.wait(5), "the proxy kept waiting for the upstream after the client left"
    assert time.monotonic() - left < 2.5
