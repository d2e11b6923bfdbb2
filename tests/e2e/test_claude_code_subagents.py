"""How Claude Code marks a subagent's requests, pinned against the real CLI (see docs/claude-code-subagents.md).

Claude Code talks straight to a recording stand-in for Anthropic's API. The main conversation's
first request is answered with an `Agent` tool call; the stand-in recognises the subagent's requests
by their content (the prompt it was handed arrives as a user text block), never by the marker under
test, then checks that exactly those requests carry `x-claude-code-agent-id` and `cc_is_subagent=true`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from tests.e2e.conftest import ClaudeRun
from tests.support.anthropic_replies import text, tool_use
from tests.support.fake_upstream import FakeUpstream, Recorded, Reply

pytestmark = pytest.mark.e2e

AGENT_ID = re.compile(r"a[0-9a-f]{16}")
SUB_PROMPT = "SUBAGENT-TASK: look around and report"
NESTED_PROMPT = "NESTED-TASK: look deeper and report"


def user_texts(request: Recorded) -> list[str]:
    """Text blocks of user messages (a subagent's task arrives as one; a tool_use input is not one)."""
    texts: list[str] = []
    for message in request.json["messages"]:
        if message["role"] != "user":
            continue
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        texts += [block["text"] for block in blocks if block.get("type") == "text"]
    return texts


def handed(request: Recorded, prompt: str) -> bool:
    return any(prompt in block for block in user_texts(request))


def answered(request: Recorded, call_id: str) -> bool:
    return any(
        block.get("type") == "tool_result" and block.get("tool_use_id") == call_id
        for message in request.json["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
    )


def header(request: Recorded, name: str) -> str | None:
    """A request header, whatever its case on the wire."""
    return next((value for key, value in request.headers.items() if key.lower() == name), None)


def billing_line(request: Recorded) -> str:
    """The first system block: `x-anthropic-billing-header: cc_version=...; cc_entrypoint=...;`."""
    return str(request.json["system"][0]["text"])


def session_of(request: Recorded) -> str:
    return str(json.loads(request.json["metadata"]["user_id"])["session_id"])


def messages_calls(upstream: FakeUpstream, run: ClaudeRun) -> list[Recorded]:
    assert run.returncode == 0, f"exit {run.returncode}\nstdout: {run.stdout}\nstderr: {run.stderr}"
    assert run.result.get("is_error") is False, run.result
    return [r for r in upstream.requests if r.path == "/v1/messages"]


@pytest.mark.parametrize("subagent_type", ["Explore", "general-purpose", "fork"])
def test_subagent_requests_carry_the_agent_id_header(
    upstream: FakeUpstream, run_claude: Callable[..., ClaudeRun], subagent_type: str
) -> None:
    """Only a subagent's requests carry `x-claude-code-agent-id` (one id for all its turns) and
    `cc_is_subagent=true`; the session headers and `metadata.user_id` are the main conversation's.
    A fork has the main conversation's system prompt and tools, so only these markers tell it apart."""
    arguments = {"description": "Explore repo", "prompt": SUB_PROMPT, "subagent_type": subagent_type}

    def script(request: Recorded) -> Reply:
        if handed(request, SUB_PROMPT):  # the subagent: one tool call, then its report
            if not answered(request, "toolu_sub_bash"):
                return tool_use("toolu_sub_bash", "Bash", {"command": "echo sub-ran", "description": "Echo"})
            return text("Subagent found nothing unusual.")
        if not answered(request, "toolu_agent_1"):
            return tool_use("toolu_agent_1", "Agent", arguments)
        return text("The explorer reported back.")

    upstream.script = script
    run = run_claude(f"http://127.0.0.1:{upstream.port}", "explore the repository")
    calls = messages_calls(upstream, run)
    sub = [r for r in calls if handed(r, SUB_PROMPT)]
    main = [r for r in calls if not handed(r, SUB_PROMPT)]
    assert len(sub) == 2, [billing_line(r) for r in calls]
    assert len(main) >= 2

    agent_ids = {header(r, "x-claude-code-agent-id") for r in sub}
    assert len(agent_ids) == 1, agent_ids
    agent_id = agent_ids.pop()
    assert agent_id is not None and AGENT_ID.fullmatch(agent_id), agent_id
    for request in sub:
        assert "cc_is_subagent=true;" in billing_line(request)
        assert header(request, "x-claude-code-parent-agent-id") is None
    for request in main:
        assert header(request, "x-claude-code-agent-id") is None
        assert "cc_is_subagent" not in billing_line(request)

    # The id is the one the main conversation is told about in the Agent tool's result.
    assert any(f"agentId: {agent_id}" in json.dumps(r.json["messages"]) for r in main)
    # Session id (header and metadata.user_id) is shared, so it cannot tell the two apart.
    assert {header(r, "x-claude-code-session-id") for r in calls} == {session_of(r) for r in calls}
    assert len({session_of(r) for r in calls}) == 1
    if subagent_type == "fork":
        assert sub[0].json["system"][1:] == main[0].json["system"][1:]
        assert [t["name"] for t in sub[0].json["tools"]] == [t["name"] for t in main[0].json["tools"]]


def test_nested_subagent_names_its_parent(upstream: FakeUpstream, run_claude: Callable[..., ClaudeRun]) -> None:
    """A subagent started by a subagent also sends `x-claude-code-parent-agent-id` with its parent's id."""
    outer = {
        "description": "Explore repo",
        "prompt": SUB_PROMPT,
        "subagent_type": "general-purpose",
        "run_in_background": False,
    }
    inner = {**outer, "description": "Look deeper", "prompt": NESTED_PROMPT, "subagent_type": "Explore"}

    def script(request: Recorded) -> Reply:
        if handed(request, NESTED_PROMPT):
            return text("Nested agent found nothing.")
        if handed(request, SUB_PROMPT):
            if not answered(request, "toolu_nested_1"):
                return tool_use("toolu_nested_1", "Agent", inner)
            return text("Subagent found nothing unusual.")
        if not answered(request, "toolu_agent_1"):
            return tool_use("toolu_agent_1", "Agent", outer)
        return text("The explorer reported back.")

    upstream.script = script
    run = run_claude(f"http://127.0.0.1:{upstream.port}", "explore the repository")
    calls = messages_calls(upstream, run)
    nested = [r for r in calls if handed(r, NESTED_PROMPT)]
    outer_calls = [r for r in calls if handed(r, SUB_PROMPT)]
    main = [r for r in calls if not handed(r, SUB_PROMPT) and not handed(r, NESTED_PROMPT)]
    assert nested and outer_calls and main

    outer_ids = {header(r, "x-claude-code-agent-id") for r in outer_calls}
    nested_ids = {header(r, "x-claude-code-agent-id") for r in nested}
    assert len(outer_ids) == 1 and len(nested_ids) == 1 and outer_ids != nested_ids
    assert all(AGENT_ID.fullmatch(str(agent_id)) for agent_id in outer_ids | nested_ids)
    assert {header(r, "x-claude-code-parent-agent-id") for r in nested} == outer_ids
    assert all(header(r, "x-claude-code-parent-agent-id") is None for r in outer_calls + main)
    assert all(header(r, "x-claude-code-agent-id") is None for r in main)
