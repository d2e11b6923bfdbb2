"""Claude Code through the proxy to an Anthropic-API provider (`kind = "anthropic"`): the session's
requests reach the provider as Claude Code wrote them (but for the model), and a tool turn finishes.
The provider is a stand-in that answers in Anthropic's own streaming shape."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ClaudeRun
from tests.e2e.test_claude_code import final_text
from tests.support.anthropic_replies import text, tool_use
from tests.support.fake_upstream import FakeUpstream, Recorded, Reply
from tests.support.proxy_server import ProxyServer

pytestmark = pytest.mark.e2e

UPSTREAM_MODEL = "claude-upstream-native"
DONE = "The Anthropic-native provider wrote the file."


@pytest.fixture
def claude() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


def tool_results(request: Recorded) -> list[dict[str, object]]:
    return [
        block
        for message in request.json["messages"]
        if message["role"] == "user" and isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]


def answer(request: Recorded) -> Reply:
    if request.path.endswith("/count_tokens"):
        return Reply(json={"input_tokens": 321})
    if not request.json.get("tools"):
        return text("Notes")  # a side request (a title, a summary)
    if tool_results(request):
        return text(DONE)
    return tool_use("toolu_native_1", "Write", {"file_path": "notes.txt", "content": "from the native provider\n"})


def test_claude_code_finishes_a_tool_turn_through_an_anthropic_provider(
    start_proxy: Callable[..., ProxyServer],
    upstream: FakeUpstream,
    claude: FakeUpstream,
    run_claude: Callable[..., ClaudeRun],
    tmp_path: Path,
) -> None:
    claude.script = answer
    toml = tmp_path / "proxy.toml"
    toml.write_text(
        f'[providers.claude]\nbase_url = "{claude.url}"\napi_key = "sk-ant-native-0123456789"\nkind = "anthropic"\n'
        f'[[routes]]\nmatch = "claude-*"\nprovider = "claude"\nmodel = "{UPSTREAM_MODEL}"\n'
    )
    proxy = start_proxy(config_file=toml)
    run = run_claude(proxy.url, "write notes.txt", env={"CLAUDE_CODE_MAX_RETRIES": "0"})
    assert DONE in final_text(run)
    assert (run_claude.workdir / "notes.txt").read_text() == "from the native provider\n"  # type: ignore[attr-defined]
    assert upstream.requests == [], "nothing went to the Chat Completions provider"
    turns = [r for r in claude.requests if r.path == "/v1/messages" and r.json.get("tools")]
    assert len(turns) >= 2 and all(r.json["model"] == UPSTREAM_MODEL for r in turns)
    last = turns[-1]
    # Claude Code's own request, untranslated: its system blocks, its tool_result, its betas and key.
    assert isinstance(last.json["system"], list)
    assert tool_results(last)[0]["tool_use_id"] == "toolu_native_1"
    assert last.headers["x-api-key"] == "sk-ant-native-0123456789"
    assert "anthropic-beta" in {name.lower() for name in last.headers}
