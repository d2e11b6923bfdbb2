"""The real Claude Code CLI through a provider with `api = "responses"`: a tool turn (reasoning, a
Write call) streamed as the Responses API streams, the file written, the result sent back as a
`function_call_output`, and the model's encrypted reasoning replayed on that next turn."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.e2e.conftest import ClaudeRun
from tests.e2e.test_claude_code import final_text
from tests.support import responses_api as api
from tests.support.fake_upstream import FakeUpstream, Recorded, Reply
from tests.support.proxy_server import ProxyServer

pytestmark = pytest.mark.e2e


def streamed(final: dict[str, object]) -> Reply:
    raw = api.sse(api.stream_events(final, lambda text: [text[i : i + 5] for i in range(0, len(text), 5)]))
    return Reply(stream=[raw[i : i + 211] for i in range(0, len(raw), 211)])


def test_claude_code_finishes_a_tool_turn_through_a_responses_provider(
    start_proxy: Callable[..., ProxyServer],
    upstream: FakeUpstream,
    run_claude: Callable[..., ClaudeRun],
    tmp_path: Path,
) -> None:
    arguments = orjson.dumps({"file_path": "notes.txt", "content": "from the responses API\n"}).decode()

    def script(request: Recorded) -> Reply:
        items = request.json.get("input", [])
        if items and items[-1]["type"] == "function_call_output":
            return streamed(api.response([api.message("Wrote notes.txt.")]))
        turn = [api.reasoning(["Write the file."], "gAAAA-e2e"), api.function_call("call_w", "Write", arguments)]
        return streamed(api.response(turn))

    upstream.script = script
    toml = tmp_path / "proxy.toml"
    toml.write_text(
        f'[providers.oa]\nbase_url = "{upstream.url}"\napi_key = "sk-responses-0123456789"\napi = "responses"\n\n'
        '[[routes]]\nmatch = "claude-*"\nprovider = "oa"\nmodel = "gpt-5"\n'
    )
    proxy = start_proxy(config_file=toml)
    run = run_claude(proxy.url, "write notes.txt", env={"CLAUDE_CODE_MAX_RETRIES": "0"})
    assert "Wrote notes.txt." in final_text(run)
    assert (run_claude.workdir / "notes.txt").read_text() == "from the responses API\n"  # type: ignore[attr-defined]
    assert all(request.path == "/v1/responses" for request in upstream.requests)
    follow_up = next(r.json for r in upstream.requests if r.json["input"][-1]["type"] == "function_call_output")
    kinds = [item["type"] for item in follow_up["input"]]
    assert kinds[-3:] == ["reasoning", "function_call", "function_call_output"]
    assert follow_up["input"][-3]["encrypted_content"] == "gAAAA-e2e"
    assert follow_up["input"][-2]["call_id"] == follow_up["input"][-1]["call_id"]
