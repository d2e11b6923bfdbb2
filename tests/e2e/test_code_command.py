"""`provider-proxy code`: starts the proxy when needed and runs the real Claude Code through it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_claude_code import text_reply
from tests.support.fake_upstream import FakeUpstream

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def code_env(tmp_path: Path, upstream: FakeUpstream, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "CLAUDE_CONFIG_DIR": str(tmp_path / ".claude"),
        "PORT": str(free_port()),
        "OPENAI_BASE_URL": upstream.url,
        "OPENAI_API_KEY": "sk-upstream-for-code-command",
        "BIG_MODEL": "big-model",
        "SMALL_MODEL": "small-model",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "IS_SANDBOX": "1",
        **extra,
    }


def provider_proxy(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "provider_proxy", *args]
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL
    )


def test_code_starts_the_proxy_and_runs_claude_through_it(
    claude_bin: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.script = lambda request: text_reply("Answered via provider-proxy code.")
    env = code_env(tmp_path, upstream, CLAUDE_CODE_BIN=claude_bin)
    result = provider_proxy(
        "code", "-p", "hello", "--output-format", "json", "--dangerously-skip-permissions", env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "Answered via provider-proxy code." in json.loads(result.stdout)["result"]
    assert upstream.requests[0].json["model"] == "big-model"
    assert upstream.requests[0].headers["Authorization"] == "Bearer sk-upstream-for-code-command"


def test_code_passes_claude_exit_code_through(claude_bin: str, upstream: FakeUpstream, tmp_path: Path) -> None:
    upstream.script = lambda request: text_reply("unused")
    env = code_env(tmp_path, upstream, CLAUDE_CODE_BIN=claude_bin)
    result = provider_proxy("code", "--definitely-not-a-claude-flag", env=env, cwd=tmp_path)
    assert result.returncode != 0


def test_code_says_how_to_install_claude_when_it_is_missing(upstream: FakeUpstream, tmp_path: Path) -> None:
    env = code_env(tmp_path, upstream, PATH=str(Path(sys.executable).parent) + ":/usr/bin:/bin")
    result = provider_proxy("code", "-p", "hi", env=env, cwd=tmp_path)
    assert result.returncode == 127
    assert "npm install -g @anthropic-ai/claude-code" in result.stderr


def test_print_env_gives_shell_exports(upstream: FakeUpstream, tmp_path: Path) -> None:
    env = code_env(tmp_path, upstream, PROXY_API_KEY="client-token-123")
    result = provider_proxy("code", "--print-env", env=env, cwd=tmp_path)
    assert result.returncode == 0
    assert f"export ANTHROPIC_BASE_URL=http://127.0.0.1:{env['PORT']}" in result.stdout
    assert "export ANTHROPIC_AUTH_TOKEN=client-token-123" in result.stdout
