"""One request's work never stalls the others: an answer with thousands of tool calls is processed in
bounded steps while other clients keep being served."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from tests.support.fake_upstream import FakeUpstream, Recorded, Reply, completion, many_tool_calls
from tests.support.proxy_server import ProxyServer

CALLS = 5_000
SMALL: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "hi"}],
}


def test_thousands_of_streamed_tool_calls_do_not_stall_other_clients(
    proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    body = many_tool_calls(CALLS)

    def script(request: Recorded) -> Reply:
        # The whole answer in one write: the proxy gets it in reads as large as its buffer allows.
        return Reply(stream=[body]) if request.json.get("stream") else Reply(json=completion())

    upstream.script = script
    streamed = threading.Event()
    result: dict[str, Any] = {}

    def stream() -> None:
        started = time.monotonic()
        request = {**SMALL, "max_tokens": 64000, "stream": True}
        with httpx.stream("POST", f"{proxy.url}/v1/messages", json=request, timeout=60) as response:
            result["status"] = response.status_code
            result["body"] = response.read()
        result["seconds"] = time.monotonic() - started
        streamed.set()

    with httpx.Client(base_url=proxy.url, timeout=30) as client:
        assert client.post("/v1/messages", json=SMALL).status_code == 200  # connections warm
        worker = threading.Thread(target=stream)
        worker.start()
        latencies = []
        while not streamed.is_set():
            started = time.monotonic()
            assert client.post("/v1/messages", json=SMALL).status_code == 200
            latencies.append(time.monotonic() - started)
        worker.join(60)
    assert result["status"] == 200
    assert result["body"].count(b'"type":"tool_use"') == CALLS
    assert result["body"].rstrip().endswith(b'data: {"type":"message_stop"}')
    assert result["seconds"] < 10, f"{CALLS} tool calls took {result['seconds']:.1f}s"
    assert latencies, "no small request ran while the stream was processed"
    assert max(latencies) < 0.5, f"a small request waited {max(latencies):.2f}s (of {len(latencies)})"
