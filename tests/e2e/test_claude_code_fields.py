"""The live guard: what this Claude Code release sends must be fully understood by the proxy.

Claude Code is pointed at a recording stand-in for Anthropic's API; every request it makes is
checked against the fields the proxy translates or knowingly drops, then run through the proxy's
decoder and translator. A new field, block type or tool attribute fails here first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from provider_proxy.api.body import decode_request
from provider_proxy.conversion.request import to_openai
from provider_proxy.models.anthropic import KNOWN_BLOCK_TYPES, MessagesRequest
from tests.e2e.conftest import ClaudeRun
from tests.support.anthropic_replies import text
from tests.support.claude_code_fields import (
    ACCOUNTED_FIELDS,
    OUTPUT_CONFIG_FIELDS,
    THINKING_FIELDS,
    TOOL_FIELDS,
)
from tests.support.fake_upstream import FakeUpstream, Recorded
from tests.unit.golden import route_for

pytestmark = pytest.mark.e2e


def check_body(body: dict[str, Any]) -> None:
    assert set(body) <= ACCOUNTED_FIELDS, f"new top-level field(s): {set(body) - ACCOUNTED_FIELDS}"
    for tool in body.get("tools", []):
        assert set(tool) <= TOOL_FIELDS, f"tool {tool.get('name')}: new field(s) {set(tool) - TOOL_FIELDS}"
    assert set(body.get("thinking") or {}) <= THINKING_FIELDS
    assert set(body.get("output_config") or {}) <= OUTPUT_CONFIG_FIELDS
    for message in body["messages"]:
        if isinstance(message["content"], list):
            kinds = {block["type"] for block in message["content"]}
            assert kinds <= KNOWN_BLOCK_TYPES, f"new content block type(s): {kinds - KNOWN_BLOCK_TYPES}"


def test_every_field_of_a_live_claude_code_request_is_understood(
    upstream: FakeUpstream, run_claude: Callable[..., ClaudeRun]
) -> None:
    upstream.script = lambda request: text("stub answer")
    run = run_claude(f"http://127.0.0.1:{upstream.port}", "say hi")
    assert run.returncode == 0, run.stderr
    calls: list[Recorded] = [r for r in upstream.requests if r.path == "/v1/messages"]
    assert calls, [r.path for r in upstream.requests]
    for call in calls:
        body = call.json
        check_body(body)
        request, dropped = decode_request(call.body, MessagesRequest)
        assert dropped == []
        translated = to_openai(request, route_for({"kind": "openai", "model": "gpt-5"}, request.model)).body
        assert translated["messages"]
    assert calls[0].query == "beta=true"
    assert calls[0].headers["anthropic-version"] == "2023-06-01"
