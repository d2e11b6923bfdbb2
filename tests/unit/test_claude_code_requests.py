"""What Claude Code 2.1.332 really sends (captured on 127.0.0.1), translated field by field.

The captures live in tests/fixtures/claude_code/ (prompt prose replaced by filler of the same size).
`ACCOUNTED_FIELDS` lists every top-level field the proxy translates or knowingly drops: a capture
from a newer release with a field missing from it fails here, before it can break users silently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from provider_proxy.api.body import decode_request
from provider_proxy.conversion.request import to_openai
from provider_proxy.models.anthropic import MessagesRequest
from tests.support.claude_code_fields import ACCOUNTED_FIELDS
from tests.unit.golden import FIXTURES, route_for

CAPTURES = sorted((FIXTURES / "claude_code").glob("*.json"))


def load_capture(path: Path) -> tuple[dict[str, Any], MessagesRequest]:
    raw = path.read_bytes()
    request, dropped = decode_request(raw, MessagesRequest)
    assert dropped == []
    return json.loads(raw), request


@pytest.mark.parametrize("capture", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_every_field_claude_code_sends_is_translated_or_knowingly_dropped(capture: Path) -> None:
    body, _ = load_capture(capture)
    assert set(body) <= ACCOUNTED_FIELDS, f"new field(s) from Claude Code: {set(body) - ACCOUNTED_FIELDS}"


def test_main_request_translates_for_an_openai_upstream() -> None:
    body, request = load_capture(FIXTURES / "claude_code" / "main_first_request.json")
    sent = to_openai(request, route_for({"kind": "openai", "model": "gpt-5"}, request.model)).body
    assert body["max_tokens"] == 128_000 and sent["max_completion_tokens"] == 128_000
    assert sent["messages"][0]["role"] == "system"
    assert "billing-header" not in sent["messages"][0]["content"]
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "system"]
    offered = {tool["function"]["name"] for tool in sent["tools"]}
    assert "DeferredToolPlaceholder" not in offered and len(offered) == len(body["tools"]) - 1
    assert sent["reasoning_effort"] == "medium"
    assert sent["user"].startswith("user-") and len(sent["user"]) <= 64
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_main_request_is_clamped_for_a_small_model() -> None:
    _, request = load_capture(FIXTURES / "claude_code" / "main_first_request.json")
    sent = to_openai(request, route_for({"kind": "openai", "model": "gpt-4o"}, request.model)).body
    assert sent["max_tokens"] == 16_384
    assert "reasoning_effort" not in sent


def test_tool_result_follow_up_keeps_call_and_result_paired() -> None:
    _, request = load_capture(FIXTURES / "claude_code" / "followup_tool_result_write.json")
    sent = to_openai(request, route_for({"kind": "deepseek", "model": "deepseek-chat"}, request.model)).body
    roles = [m["role"] for m in sent["messages"]]
    call_index = next(i for i, m in enumerate(sent["messages"]) if m.get("tool_calls"))
    assert roles[call_index + 1] == "tool"
    assert sent["messages"][call_index + 1]["tool_call_id"] == sent["messages"][call_index]["tool_calls"][0]["id"]


def test_background_request_asks_for_structured_output() -> None:
    _, request = load_capture(FIXTURES / "claude_code" / "background_small_model_rename.json")
    sent = to_openai(request, route_for({"kind": "openai", "model": "gpt-4.1-mini"}, request.model)).body
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"]["required"] == ["name"]
    assert "tools" not in sent
