"""The real Claude Code CLI running a web search through the proxy: the main model calls WebSearch,
Claude Code asks the model to search with Anthropic's `web_search` server tool, the proxy offers the
upstream model a search function, runs the search on a fake backend (Brave's JSON) and answers with
`server_tool_use` and `web_search_tool_result` blocks, which Claude Code turns into the links the
main model then reads; the CLI prints the answer built from them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ClaudeRun
from tests.e2e.test_claude_code import final_text, text_reply, tool_reply
from tests.support.fake_upstream import FakeUpstream, Recorded, Reply
from tests.support.proxy_server import ProxyServer
from tests.support.search_backend import PAGES, answering, search_config

pytestmark = pytest.mark.e2e

SIDE_QUERY = "You run a web search for another Claude model"


@pytest.fixture
def search() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


def names(request: Recorded) -> list[str]:
    return [tool["function"]["name"] for tool in request.json.get("tools", [])]


def system_text(request: Recorded) -> str:
    return "\n".join(str(m["content"]) for m in request.json["messages"] if m["role"] == "system")


def last_tool_text(request: Recorded) -> str:
    tools = [m for m in request.json["messages"] if m["role"] == "tool"]
    return str(tools[-1]["content"]) if tools else ""


def test_claude_code_web_search_runs_on_the_configured_backend_and_shows_its_results(
    start_proxy: Callable[..., ProxyServer],
    upstream: FakeUpstream,
    search: FakeUpstream,
    run_claude: Callable[..., ClaudeRun],
    tmp_path: Path,
) -> None:
    def script(request: Recorded) -> Reply:
        if SIDE_QUERY in system_text(request):
            if last_tool_text(request):
                return text_reply("Two pages about proxy news.")
            return tool_reply(("call_search", "web_search", {"query": "proxy news"}))
        result = last_tool_text(request)
        if PAGES[0].url in result:
            return text_reply(f"According to the search: {PAGES[0].title} at {PAGES[0].url}")
        if "WebSearch" in names(request):
            return tool_reply(("call_ws", "WebSearch", {"query": "proxy news"}))
        if "ToolSearch" in names(request) and not result:  # WebSearch is deferred: its schema is loaded first
            return tool_reply(("call_ts", "ToolSearch", {"query": "select:WebSearch"}))
        return text_reply(f"no search happened: {result[:300]}")

    upstream.script = script
    search.script = answering("brave")
    proxy = start_proxy(config_file=str(search_config(tmp_path, "brave", search)))
    run = run_claude(proxy.url, "search the web for proxy news", env={"CLAUDE_CODE_MAX_RETRIES": "0"})
    text = final_text(run)
    assert f"{PAGES[0].title} at {PAGES[0].url}" in text
    assert len(search.requests) == 1 and "q=proxy+news" in search.last.raw_path
    side: list[Any] = [r.json for r in upstream.requests if SIDE_QUERY in system_text(r)]
    assert [[tool["function"]["name"] for tool in body["tools"]] for body in side] == [["web_search"], ["web_search"]]
    results = [m for m in side[1]["messages"] if m["role"] == "tool"]
    assert results[0]["tool_call_id"].startswith("srvtoolu_") and PAGES[0].snippet in results[0]["content"]
    # What Claude Code made of the web_search_tool_result blocks reached the main model as WebSearch's result.
    main = [last_tool_text(r) for r in upstream.requests if SIDE_QUERY not in system_text(r)]
    shown = next(text for text in main if PAGES[0].url in text)
    assert 'Web search results for query: "proxy news"' in shown and PAGES[1].url in shown
