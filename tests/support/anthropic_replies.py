"""Answers in Anthropic's own streaming shape, for a stand-in that Claude Code talks to directly."""

from __future__ import annotations

import json
from typing import Any

import orjson

from tests.support.fake_upstream import Reply


def anthropic_stream(block: dict[str, Any]) -> Reply:
    """One streamed assistant message holding a single text or tool_use block."""
    start: dict[str, Any]
    if block["type"] == "text":
        start = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": block["text"]}
        stop_reason = "end_turn"
    else:
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        stop_reason = "tool_use"
    message: dict[str, Any] = {
        "id": "msg_stub",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-5-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    }
    events = [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": start}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 3},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return Reply(stream=[f"event: {name}\ndata: ".encode() + orjson.dumps(data) + b"\n\n" for name, data in events])


def text(reply: str) -> Reply:
    return anthropic_stream({"type": "text", "text": reply})


def tool_use(call_id: str, name: str, arguments: dict[str, Any]) -> Reply:
    return anthropic_stream({"type": "tool_use", "id": call_id, "name": name, "input": arguments})
