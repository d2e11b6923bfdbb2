"""Claude Code itself, through the proxy, against a scripted OpenAI-compatible upstream.

Each scenario asserts on the outcome (files written, commands run, what the upstream received),
not only on the exit code. The upstream decides its reply from what it receives.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ClaudeRun
from tests.support.fake_upstream import FakeUpstream, Recorded, Reply, sse
from tests.support.proxy_server import ProxyServer

pytestmark = pytest.mark.e2e


def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-e2e",
        "object": "chat.completion.chunk",
        "model": "upstream",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def text_reply(text: str) -> Reply:
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in pieces]
    chunks.append(chunk({}, "stop"))
    chunks.append({"id": "x", "choices": [], "usage": {"prompt_tokens": 120, "completion_tokens": len(pieces)}})
    return Reply(stream=sse(*chunks))


def tool_reply(*calls: tuple[str, str, dict[str, Any]], fragments: int = 4) -> Reply:
    """Tool calls whose JSON arguments arrive split over several chunks."""
    chunks = [chunk({"role": "assistant", "content": None})]
    for index, (call_id, name, arguments) in enumerate(calls):
        text = json.dumps(arguments)
        size = max(1, len(text) // fragments + 1)
        first = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        chunks.append(chunk({"tool_calls": [first]}))
        for start in range(0, len(text), size):
            piece = {"index": index, "function": {"arguments": text[start : start + size]}}
            chunks.append(chunk({"tool_calls": [piece]}))
    chunks.append(chunk({}, "tool_calls", usage={"prompt_tokens": 150, "completion_tokens": 30}))
    return Reply(stream=sse(*chunks))


def last_role(request: Recorded) -> str:
    return str(request.json["messages"][-1]["role"])


def tool_messages(request: Recorded) -> list[dict[str, Any]]:
    return [m for m in request.json["messages"] if m["role"] == "tool"]


def final_text(run: ClaudeRun) -> str:
    assert run.returncode == 0, f"exit {run.returncode}\nstdout: {run.stdout}\nstderr: {run.stderr}"
    result = run.result
    assert result.get("is_error") is False, result
    return str(result["result"])


def test_plain_prompt_answer_reaches_claude_code(
    proxy: ProxyServer, upstream: FakeUpstream, run_claude: Callable[..., ClaudeRun]
) -> None:
    upstream.script = lambda request: text_reply("The proxy says hello from a scripted upstream.")
    run = run_claude(proxy.url, "say hello")
    assert "The proxy says hello from a scripted upstream." in final_text(run)
    sent = upstream.requests[0].json
    assert sent["model"] == "big-model" and sent["stream"] is True
    assert any(m["role"] == "user" and "say hello" in json.dumps(m) for m in sent["messages"])


def test_write_tool_call_streamed_in_fragments_writes_the_file(
    proxy: ProxyServer, upstream: FakeUpstream, run_claude: Callable[..., ClaudeRun]
) -> None:
    target = Path(run_claude.workdir) / "notes" / "hello.txt"  # type: ignore[attr-defined]
    content = "written through the proxy\nline two\n"

    def script(request: Recorded) -> Reply:
        if last_role(request) == "tool":
            return text_reply("I wrote the file.")
        return tool_reply(("call_write_1", "Write", {"file_path": str(target), "content": content}), fragments=6)

    upstream.script = script
    run = run_claude(proxy.url, "write the file")
    assert "I wrote the file." in final_text(run)
    assert target.read_text() == content
    results = tool_messages(upstream.last)
    assert [m["tool_call_id"] for m in results] == ["call_write_1"]
    assert "hello.txt" in results[0]["content"]


def test_bash_output_comes_back_to_the_model_as_a_tool_result(
    proxy: ProxyServer, upstream: FakeUpstream, run_claude: Callable[..., ClaudeRun]
) -> None:
    def script(request: Recorded) -> Reply:
        if last_role(request) == "tool":
            return text_reply("The command printed its marker.")
        return tool_reply(("call_bash_1", "Bash", {"command": "echo proxy-bash-$((40+2))", "description": "Print"}))

    upstream.script = script
    run = run_claude(proxy.url, "run the command")
    assert "The command printed its marker." in final_text(run)
    results = tool_messages(upstream.last)
    assert results[0]["tool_call_id"] == "call_bash_1"
    assert "proxy-bash-42" in results[0]["content"]


def test_two_tool_calls_in_one_turn_both_run_and_return_in_order(
    proxy: ProxyServer, upstream: FakeUpstream, run_claude: Callable[..., ClaudeRun]
) -> None:
    def script(request: Recorded) -> Reply:
        if last_role(request) == "tool":
            return text_reply("Both commands ran.")
        return tool_reply(
            ("call_p1", "Bash", {"command": "echo first-output", "description": "First"}),
            ("call_p2", "Bash", {"command": "echo second-output", "description": "Second"}),
        )

    upstream.script = script
    run = run_claude(proxy.url, "run both")
    assert "Both commands ran." in final_text(run)
    results = tool_messages(upstream.last)
    assert [m["tool_call_id"] for m in results] == ["call_p1", "call_p2"]
    assert "first-output" in results[0]["content"] and "second-output" in results[1]["content"]
    assistant = [m for m in upstream.last.json["messages"] if m.get("tool_calls")][-1]
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_p1", "call_p2"]


def test_one_rate_limit_then_success_completes(
    proxy: ProxyServer, upstream: FakeUpstream, run_claude: Callable[..., ClaudeRun]
) -> None:
    upstream.queue(Reply(status=429, json={"error": {"message": "rate limited"}}, headers={"retry-after": "1"}))
    upstream.script = lambda request: text_reply("Recovered after the rate limit.")
    run = run_claude(proxy.url, "hello again")
    assert "Recovered after the rate limit." in final_text(run)
    assert len(upstream.requests) >= 2


@pytest.mark.parametrize(
    ("status", "shown"),
    [(500, "API Error: 500"), (401, "API key")],
)
def test_hard_upstream_failure_ends_with_a_clear_error(
    proxy: ProxyServer, upstream: FakeUpstream, run_claude: Callable[..., ClaudeRun], status: int, shown: str
) -> None:
    upstream.script = lambda request: Reply(status=status, json={"error": {"message": "upstream is broken"}})
    run = run_claude(proxy.url, "hello", env={"CLAUDE_CODE_MAX_RETRIES": "1"}, timeout=120)
    assert run.returncode != 0
    result = run.result
    assert result["is_error"] is True
    assert shown in result["result"]


def test_background_explore_agent_uses_the_small_model(
    proxy: ProxyServer, upstream: FakeUpstream, run_claude: Callable[..., ClaudeRun]
) -> None:
    """An Explore agent on the haiku model runs in the background; its requests must reach SMALL_MODEL."""

    def script(request: Recorded) -> Reply:
        body = request.json
        if body["model"] == "small-model":
            return text_reply("Explore found nothing unusual.")
        offered = {tool["function"]["name"] for tool in body.get("tools", [])}
        if "Agent" not in offered or any(m["role"] == "tool" for m in body["messages"]):
            return text_reply("The explorer reported back.")
        arguments = {
            "description": "Explore repo",
            "prompt": "Look around",
            "subagent_type": "Explore",
            "model": "haiku",
        }
        return tool_reply(("call_agent_1", "Agent", arguments))

    upstream.script = script
    run = run_claude(
        proxy.url,
        "explore the repository",
        env={"ANTHROPIC_DEFAULT_HAIKU_MODEL": "claude-haiku-4-5", "ANTHROPIC_SMALL_FAST_MODEL": "claude-haiku-4-5"},
    )
    assert "The explorer reported back." in final_text(run)
    models = [r.json["model"] for r in upstream.requests]
    assert "small-model" in models, models
    assert run.result["modelUsage"].keys() >= {"claude-haiku-4-5"}
