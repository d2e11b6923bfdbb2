"""Claude Code-shaped requests, for running through every provider profile.

The real CLI captures (tests/fixtures/claude_code), the request of every translation fixture
(tests/fixtures/translation), and one built here for what neither has in one request: a long tool
loop with MCP names over 64 characters and a pydantic-written MCP schema, parallel calls, a
screenshot in a tool result, a system message mid-conversation, thinking, many stop sequences and
every sampling parameter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
_LONG = "mcp__a-very-long-server-name-for-browser-automation__take_a_full_page_screenshot_of_the_tab"


def _tool(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"The {name} tool.",
        "input_schema": schema
        or {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "path": {"type": "string", "format": "uri", "description": "Where."},
                "limit": {"type": "integer", "exclusiveMinimum": 0, "maximum": 100},
                "mode": {"const": "fast"},
                "tags": {"type": ["array", "null"], "items": {"type": "string"}},
            },
            "required": ["path"],
            "additionalProperties": False,
        },
    }


# An MCP tool whose schema pydantic wrote (FastMCP servers): $defs and $ref, oneOf, allOf, titles.
_MCP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "SearchArguments",
    "properties": {
        "filter": {"$ref": "#/$defs/Filter"},
        "page": {"allOf": [{"$ref": "#/$defs/Page"}], "default": None},
        "mode": {"oneOf": [{"type": "string", "enum": ["fast", "full"]}, {"type": "null"}]},
    },
    "required": ["filter"],
    "$defs": {
        "Filter": {
            "type": "object",
            "title": "Filter",
            "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
            "required": ["name"],
            "additionalProperties": False,
        },
        "Page": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1}}},
    },
}


def _tool_loop() -> dict[str, Any]:
    """A long agentic turn: parallel calls (one to a long MCP name), results with a screenshot and an
    error, a hook's system message between turns, thinking on, sampling parameters and 6 stops."""
    calls = [
        {"type": "tool_use", "id": "toolu_01A", "name": "Read", "input": {"path": "/src/a.py"}},
        {"type": "tool_use", "id": "toolu_01B", "name": _LONG, "input": {"path": "https://example.test"}},
    ]
    results = [
        {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "print('a')"},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_01B",
            "content": [
                {"type": "text", "text": "Screenshot taken"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": _PNG}},
            ],
        },
        {"type": "text", "text": "Now fix the bug."},
    ]
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 8000,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "tools": [
            _tool("Read"),
            _tool(_LONG),
            _tool("Bash", {"type": "object", "properties": {}}),
            _tool("mcp__docs__search", _MCP_SCHEMA),
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": False},
        "thinking": {"type": "enabled", "budget_tokens": 4000},
        "temperature": 1,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["\n\nHuman:", "END", "STOP", "###", "<|end|>", "DONE"],
        "metadata": {"user_id": '{"device_id":"abc","session_id":"0f"}'},
        "messages": [
            {"role": "user", "content": "Look at a.py and the page."},
            {"role": "assistant", "content": [{"type": "text", "text": "Looking."}, *calls]},
            {"role": "user", "content": results},
            {"role": "system", "content": "PostToolUse hook: lint passed."},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01C", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01C", "is_error": True}]},
        ],
    }


def _read(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def corpus() -> list[tuple[str, dict[str, Any]]]:
    """(name, Anthropic request body), every request once."""
    cases = [(f"capture:{p.stem}", _read(p)) for p in sorted((FIXTURES / "claude_code").glob("*.json"))]
    translation = sorted(p for p in (FIXTURES / "translation").iterdir() if (p / "request.json").exists())
    cases += [(f"translation:{p.name}", _read(p / "request.json")) for p in translation]
    cases.append(("built:tool_loop", _tool_loop()))
    return cases
