"""`stream: true` over real HTTP: the proxy in uvicorn, a scripted upstream, the anthropic SDK as client."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from provider_proxy.utils.sse import SSEDecoder
from tests.support.fake_upstream import FakeUpstream, Reply, completion, sse
from tests.support.proxy_server import ProxyServer
from tests.support.sdk import sdk_client

MODEL = "claude-sonnet-4-6"
TOOLS = [
    {"name": "Read", "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}},
    {"name": "Grep", "input_schema": {"type": "object", "properties": {"pattern": {"type": "string"}}}},
]
REQUEST: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 1000,
    "messages": [{"role": "user", "content": "Find TODOs in a.py"}],
    "tools": TOOLS,
}
USAGE = {"prompt_tokens": 30, "completion_tokens": 20, "total_tokens": 50}


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def usage_chunk() -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": USAGE}


def call(index: int, arguments: str, call_id: str | None = None, name: str | None = None) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": arguments}
    if name:
        function["name"] = name
    fragment: dict[str, Any] = {"index": index, "function": function}
    if call_id:
        fragment.update(id=call_id, type="function")
    return chunk({"tool_calls": [fragment]})


def client(proxy: ProxyServer) -> anthropic.Anthropic:
    return sdk_client(proxy.url, api_key="unused", timeout=20)


def raw_events(proxy: ProxyServer, body: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
    response = httpx.post(f"{proxy.url}/v1/messages", json={**REQUEST, "stream": True, **(body or {})}, timeout=20)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    decoder = SSEDecoder()
    events = decoder.feed(response.content) + decoder.close()
    return [(event.event, orjson.loads(event.data)) for event in events]


def test_sdk_streams_thinking_text_and_parallel_tool_calls_like_the_non_streaming_answer(
    proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    upstream.queue(
        Reply(
            stream=sse(
                chunk({"role": "assistant", "reasoning_content": "Two files "}),
                chunk({"reasoning_content": "to check."}),
                chunk({"content": "Checking "}),
                chunk({"content": "both."}),
                call(0, '{"file_', "call_a", "Read"),
                call(1, '{"pattern": ', "call_b", "Grep"),
                call(0, 'path": "a.py"}'),
                call(1, '"TODO"}'),
                chunk({}, "tool_calls"),
                usage_chunk(),
            )
        ),
        Reply(
            json=completion(
                "Checking both.",
                reasoning_content="Two files to check.",
                finish_reason="tool_calls",
                usage=USAGE,
                tool_calls=[
                    {
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "Read", "arguments": '{"file_path": "a.py"}'},
                    },
                    {
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "Grep", "arguments": '{"pattern": "TODO"}'},
                    },
                ],
            )
        ),
    )
    sdk = client(proxy)
    with sdk.messages.stream(**REQUEST) as stream:
        streamed = stream.get_final_message().model_dump(exclude={"id"})
    answered = sdk.messages.create(**REQUEST).model_dump(exclude={"id"})
    assert streamed == answered
    assert [block["type"] for block in streamed["content"]] == ["thinking", "text", "tool_use", "tool_use"]
    assert streamed["content"][3]["input"] == {"pattern": "TODO"}
    assert streamed["stop_reason"] == "tool_use"
    assert upstream.requests[0].json["stream"] is True
    assert upstream.requests[0].json["stream_options"] == {"include_usage": True}


def test_message_start_arrives_before_the_first_token(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    upstream.queue(Reply(stream=sse(2.0, chunk({"content": "late"}, "stop"))))
    body = {**REQUEST, "stream": True}
    with httpx.stream("POST", f"{proxy.url}/v1/messages", json=body, timeout=1.5) as response:
        first = next(response.iter_bytes())
    assert first.startswith(b"event: message_start\n")


def test_client_disconnect_mid_stream_cancels_the_upstream_request(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    upstream.queue(Reply(stream=sse(chunk({"content": "first"}), 30.0, chunk({"content": "never"}, "stop"))))
    body = {**REQUEST, "stream": True}
    with httpx.stream("POST", f"{proxy.url}/v1/messages", json=body, timeout=10) as response:
        received = b""
        for piece in response.iter_bytes():
            received += piece
            if b"first" in received:
                break
    assert upstream.client_gone.wait(5), "the proxy kept reading from the upstream after the client left"


def test_upstream_failure_mid_stream_ends_with_an_error_event(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    upstream.queue(Reply(stream=sse(chunk({"content": "Partial"}), done=False), abort=True))
    events = raw_events(proxy)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "error",
    ]
    assert events[-1][1]["type"] == "error"
    assert events[-1][1]["error"]["type"] == "api_error"
    assert "broke off" in events[-1][1]["error"]["message"]


def test_an_upstream_line_longer_than_the_limit_ends_the_stream_naming_it(
    proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    line = b"data: " + orjson.dumps(chunk({"content": "x" * 2_000_000}))
    pieces: list[bytes | float] = [line[start : start + 65536] for start in range(0, len(line), 65536)]
    upstream.queue(Reply(stream=sse(chunk({"content": "Partial"}), *pieces, b"\n\n", chunk({}, "stop"))))
    events = raw_events(proxy)
    assert [name for name, _ in events][-1] == "error"
    error = events[-1][1]["error"]
    assert error["type"] == "api_error"
    assert "1048576" in error["message"]
    assert all(len(orjson.dumps(data)) < 1000 for _, data in events)


def test_error_chunk_mid_stream_reaches_the_sdk_as_an_api_error(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    failure = {"error": {"code": 429, "message": "Rate limit exceeded upstream"}, "choices": []}
    upstream.queue(Reply(stream=sse(chunk({"content": "Hi"}), failure)))
    with (
        pytest.raises(anthropic.APIStatusError, match="Rate limit exceeded upstream"),
        client(proxy).messages.stream(**REQUEST) as stream,
    ):
        stream.get_final_message()


def test_a_silent_upstream_gets_pings(start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream) -> None:
    proxy = start_proxy(ping_interval=0.1)
    upstream.queue(Reply(stream=sse(b": keep-alive\n\n", 0.45, chunk({"content": "done"}, "stop"), usage_chunk())))
    names = [name for name, _ in raw_events(proxy)]
    assert names.count("ping") >= 2
    assert names[0] == "message_start" and names[-1] == "message_stop"


def test_an_upstream_sending_only_keep_alive_comments_times_out(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream
) -> None:
    proxy = start_proxy(request_timeout=0.6, ping_interval=0.1)
    comments: list[bytes | float] = []
    for _ in range(40):
        comments += [b": keep-alive\n\n", 0.05]
    upstream.queue(Reply(stream=sse(*comments, chunk({"content": "too late"}, "stop"))))
    events = raw_events(proxy)
    assert events[0][0] == "message_start"
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["type"] == "timeout_error"
    assert "REQUEST_TIMEOUT" in events[-1][1]["error"]["message"]


def test_an_upstream_error_status_before_the_stream_is_a_normal_error_response(
    proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(status=429, json={"error": {"message": "slow down"}}, headers={"retry-after": "30"}))
    response = httpx.post(f"{proxy.url}/v1/messages", json={**REQUEST, "stream": True}, timeout=20)
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert response.headers["retry-after"] == "30"


def test_the_request_log_line_is_written_after_the_stream_with_its_tokens(
    proxy: ProxyServer, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="provider_proxy.request")
    upstream.queue(Reply(stream=sse(chunk({"content": "ok"}, "stop"), usage_chunk())))
    raw_events(proxy)
    deadline = time.monotonic() + 5  # the line is written just after the last byte is sent
    while not (lines := [r.getMessage() for r in caplog.records if r.name == "provider_proxy.request"]):
        assert time.monotonic() < deadline, "no request log line"
        time.sleep(0.01)
    assert len(lines) == 1
    assert " stream in=30 out=20" in lines[0]
