"""Claude Code through the proxy when its first provider is down: the fallback answers the turn, with
tools, and Claude Code never sees the failure."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ClaudeRun
from tests.e2e.test_claude_code import final_text, last_role, text_reply, tool_reply
from tests.support.fake_upstream import FakeUpstream, Recorded, Reply
from tests.support.proxy_server import ProxyServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def backup() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


def test_a_failing_provider_hands_the_session_to_its_fallback(
    start_proxy: Callable[..., ProxyServer],
    upstream: FakeUpstream,
    backup: FakeUpstream,
    run_claude: Callable[..., ClaudeRun],
    tmp_path: Path,
) -> None:
    upstream.script = lambda _: Reply(status=503, json={"error": {"message": "primary is down"}})

    def answer(request: Recorded) -> Reply:
        if last_role(request) == "tool":
            return text_reply("The fallback wrote the file.")
        return tool_reply(("call_w1", "Write", {"file_path": "notes.txt", "content": "from the fallback\n"}))

    backup.script = answer
    toml = tmp_path / "proxy.toml"
    toml.write_text(
        f'[providers.backup]\nbase_url = "{backup.url}"\napi_key = "sk-backup-0123456789"\n'
        '[fallbacks]\n"default/big-model" = ["backup/backup-model"]\n'
    )
    proxy = start_proxy(config_file=toml, breaker_failures=100)
    run = run_claude(proxy.url, "write notes.txt", env={"CLAUDE_CODE_MAX_RETRIES": "0"})
    assert "The fallback wrote the file." in final_text(run)
    assert (run_claude.workdir / "notes.txt").read_text() == "from the fallback\n"  # type: ignore[attr-defined]
    assert upstream.requests, "the primary was never tried"
    assert all(request.json["model"] == "backup-model" for request in backup.requests)
