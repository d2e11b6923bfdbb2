"""The real Claude Code in a session that outgrows a 32k upstream window.

The fake provider enforces the window as vLLM does (input and output together, its own wording) and
counts tokens as the proxy estimates them. Claude Code's conversation grows by about 2,000 tokens a
turn (Bash output) from its ~14,000-token system prompt and tools, so it must compact several times
before the task ends. Measured with 2.1.332 and pinned here:

- the proxy's `prompt is too long: N tokens > M maximum` makes Claude Code compact and carry on, and
  its summary requests fit (the proxy lowers their output to the room left);
- with `provider-proxy code`'s environment (CLAUDE_CODE_AUTO_COMPACT_WINDOW=100000 and
  CLAUDE_AUTOCOMPACT_PCT_OVERRIDE=24 for 32k) it compacts before anything is refused;
- CLAUDE_CODE_AUTO_COMPACT_WINDOW=32768 alone (read as 100,000) or CLAUDE_AUTOCOMPACT_PCT_OVERRIDE
  alone (a share of the 1M window Claude Code assumes for Claude names) do not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from provider_proxy.api import handlers
from provider_proxy.cli.code import compaction_env
from provider_proxy.errors import ProxyError
from provider_proxy.services.token_counting import count_body, estimate_tokens
from tests.e2e.conftest import ClaudeRun
from tests.e2e.test_claude_code import chunk, final_text
from tests.support.fake_upstream import FakeUpstream, Recorded, Reply, sse
from tests.support.proxy_server import ProxyServer

pytestmark = pytest.mark.e2e

WINDOW = 32768
SUMMARY_PROMPT = "Your task is to create a detailed summary"
TOOL_CALLS = 10
WORDS_PER_OUTPUT = 500


@dataclass
class Session:
    """What the fake provider and the proxy saw."""

    calls: int = 0
    # (summary request?, input tokens, refused by the provider?)
    upstream: list[tuple[bool, int, bool]] = field(default_factory=list)
    # (summary request?, refused by the proxy?)
    proxy: list[tuple[bool, bool]] = field(default_factory=list)

    def summaries(self) -> int:
        return sum(summary for summary, _, _ in self.upstream)


def streamed(delta: dict[str, Any], finish: str, prompt: int) -> Reply:
    usage = {"prompt_tokens": prompt, "completion_tokens": 20}
    return Reply(stream=sse(chunk(delta), chunk({}, finish), {"id": "u", "choices": [], "usage": usage}))


def provider(session: Session) -> Callable[[Recorded], Reply]:
    def answer(request: Recorded) -> Reply:
        body = request.json
        prompt = count_body(body, estimate_tokens)
        output = body.get("max_tokens") or body.get("max_completion_tokens") or 0
        summary = SUMMARY_PROMPT in json.dumps(body["messages"])
        refused = prompt + output > WINDOW
        if body["model"] == "big-model":
            session.upstream.append((summary, prompt, refused))
        if refused:
            message = (
                f"This model's maximum context length is {WINDOW} tokens. However, you requested {prompt + output} "
                f"tokens ({prompt} in the messages, {output} in the completion). Please reduce the length of the "
                "messages or completion."
            )
            return Reply(status=400, json={"object": "error", "message": message, "type": "BadRequestError"})
        if body["model"] != "big-model" or not body.get("tools"):
            return streamed({"role": "assistant", "content": "Noted."}, "stop", prompt)
        if summary:
            text = "Summary: the user asked for the data blocks to be printed with Bash; keep printing the next."
            return streamed({"role": "assistant", "content": text}, "stop", prompt)
        session.calls += 1
        if session.calls > TOOL_CALLS:
            return streamed({"role": "assistant", "content": "ALL BLOCKS PRINTED."}, "stop", prompt)
        words = f"' '.join('block{session.calls}-word' + str(i) for i in range({WORDS_PER_OUTPUT}))"
        arguments = json.dumps({"command": f'python3 -c "print({words})"', "description": "Print a block"})
        call = {"index": 0, "id": f"call_{session.calls}", "type": "function"}
        call["function"] = {"name": "Bash", "arguments": arguments}
        return streamed({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls", prompt)

    return answer


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    """Records, per request the proxy prepares, whether it was a summary request and whether the
    proxy refused it."""
    seen = Session()
    fit = handlers.fit_window

    def recording(body: bytes, *args: Any) -> bytes:
        summary = SUMMARY_PROMPT.encode() in body
        try:
            result = fit(body, *args)
        except ProxyError:
            seen.proxy.append((summary, True))
            raise
        seen.proxy.append((summary, False))
        return result

    monkeypatch.setattr(handlers, "fit_window", recording)
    yield seen


@pytest.fixture
def windowed(start_proxy: Callable[..., ProxyServer], tmp_path: Path, upstream: FakeUpstream) -> ProxyServer:
    config = tmp_path / "proxy.toml"
    config.write_text(f'[models."big-model"]\ncontext_window = {WINDOW}\nmax_output_tokens = 4096\n')
    return start_proxy(config_file=config)


def run_session(
    windowed: ProxyServer, upstream: FakeUpstream, session: Session, run_claude: Callable[..., ClaudeRun], **env: str
) -> None:
    upstream.script = provider(session)
    run = run_claude(windowed.url, "print the data blocks one by one with Bash until done", env=env)
    assert "ALL BLOCKS PRINTED." in final_text(run)
    assert session.summaries() >= 1, session
    assert not any(refused for _, _, refused in session.upstream), "the provider refused a request"
    assert not any(summary and refused for summary, refused in session.proxy), "a summary request was refused"


def test_with_the_code_environment_claude_code_compacts_before_the_window_fills(
    windowed: ProxyServer, upstream: FakeUpstream, session: Session, run_claude: Callable[..., ClaudeRun]
) -> None:
    env = compaction_env(WINDOW)
    assert env == {"CLAUDE_CODE_AUTO_COMPACT_WINDOW": "100000", "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE": "24"}
    run_session(windowed, upstream, session, run_claude, **env)
    assert not any(refused for _, refused in session.proxy), "compaction came too late"
    assert max(prompt for _, prompt, _ in session.upstream) < WINDOW - 4096


def test_without_it_the_proxys_prompt_too_long_makes_claude_code_compact(
    windowed: ProxyServer, upstream: FakeUpstream, session: Session, run_claude: Callable[..., ClaudeRun]
) -> None:
    run_session(windowed, upstream, session, run_claude)
    assert any(refused for _, refused in session.proxy), "the window was never reached"


@pytest.mark.parametrize(
    "env",
    [{"CLAUDE_CODE_AUTO_COMPACT_WINDOW": str(WINDOW)}, {"CLAUDE_AUTOCOMPACT_PCT_OVERRIDE": "24"}],
    ids=["auto-compact-window-alone", "pct-override-alone"],
)
def test_either_variable_alone_does_not_compact_in_time_for_a_small_window(
    windowed: ProxyServer,
    upstream: FakeUpstream,
    session: Session,
    run_claude: Callable[..., ClaudeRun],
    env: dict[str, str],
) -> None:
    run_session(windowed, upstream, session, run_claude, **env)
    assert any(refused for _, refused in session.proxy), "Claude Code now honours this alone: simplify `code`"
