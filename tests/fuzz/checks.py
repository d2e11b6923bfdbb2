"""What every fuzzed answer must satisfy: no 5xx (the fake upstream never fails, so a 5xx is the
proxy's own), every error in Anthropic's shape, a message in Anthropic's shape, and a stream of
well-formed server-sent events in the order clients rely on."""

from __future__ import annotations

from typing import Any

import orjson

from provider_proxy.errors import ERROR_STATUS

ERROR_TYPES = frozenset(ERROR_STATUS)
_STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}


def check_answer(status: int, content_type: str, body: bytes, what: str) -> None:
    """`what` names the request in the failure message (method, path, a short body)."""
    assert status < 500, f"{what} -> the proxy's own {status}: {body[:2000]!r}"
    if 300 <= status < 400:
        return  # Starlette's redirect of a path with a trailing slash: no error, no body
    if status >= 400:
        assert content_type.startswith("application/json"), f"{what} -> {status} {content_type}: {body[:500]!r}"
        check_error_body(orjson.loads(body), what)
    elif content_type.startswith("text/event-stream"):
        check_event_stream(body, what)


def check_error_body(data: Any, what: str) -> None:
    assert isinstance(data, dict) and data.get("type") == "error", f"{what}: not an Anthropic error: {data!r}"
    error = data.get("error")
    assert isinstance(error, dict), f"{what}: {data!r}"
    assert error.get("type") in ERROR_TYPES, f"{what}: unknown error type in {data!r}"
    assert isinstance(error.get("message"), str) and error["message"], f"{what}: no message in {data!r}"


def check_message(data: Any, what: str) -> None:
    assert isinstance(data, dict) and data.get("type") == "message", f"{what}: {data!r}"
    assert data["role"] == "assistant" and data["id"].startswith("msg_"), f"{what}: {data!r}"
    assert data["stop_reason"] in _STOP_REASONS, f"{what}: {data!r}"
    assert isinstance(data["content"], list), f"{what}: {data!r}"
    for block in data["content"]:
        assert block["type"] in ("text", "thinking", "tool_use"), f"{what}: {data!r}"
        if block["type"] == "tool_use":
            assert isinstance(block["input"], dict), f"{what}: {data!r}"
    usage = data["usage"]
    assert usage["input_tokens"] >= 0 and usage["output_tokens"] >= 0, f"{what}: {data!r}"


def parse_events(body: bytes, what: str) -> list[tuple[str, Any]]:
    """(event name, decoded data) for each frame; every frame has both and they agree."""
    text = body.decode("utf-8")
    assert text.endswith("\n\n"), f"{what}: the stream does not end with a whole frame: {text[-300:]!r}"
    events = []
    for frame in text.replace("\r\n", "\n").split("\n\n")[:-1]:
        fields = dict(line.split(": ", 1) for line in frame.split("\n") if line and not line.startswith(":"))
        assert set(fields) == {"event", "data"}, f"{what}: malformed frame {frame!r}"
        data = orjson.loads(fields["data"])
        assert data["type"] == fields["event"], f"{what}: event name and data type differ in {frame!r}"
        events.append((fields["event"], data))
    return events


def check_event_stream(body: bytes, what: str) -> None:
    events = [(name, data) for name, data in parse_events(body, what) if name != "ping"]
    names = [name for name, _ in events]
    assert names, f"{what}: an empty stream"
    if names[-1] == "error":
        check_error_body(events[-1][1], what)
        raise AssertionError(f"{what}: the stream ended with an error though the upstream answered well: {events[-1]}")
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"], f"{what}: {names}"
    check_message({**events[0][1]["message"], "stop_reason": "end_turn"}, what)
    open_index = None
    for name, data in events[1:-2]:
        if name == "content_block_start":
            assert open_index is None, f"{what}: a block opened while another is open: {names}"
            open_index = data["index"]
        else:
            assert name in ("content_block_delta", "content_block_stop"), f"{what}: {names}"
            assert data["index"] == open_index, f"{what}: an event for a block that is not open: {names}"
            if name == "content_block_stop":
                open_index = None
    assert open_index is None, f"{what}: a block left open: {names}"
    assert events[-2][1]["delta"]["stop_reason"] in _STOP_REASONS, f"{what}: {events[-2]}"
