"""The real Claude Code CLI, installed from npm into a cache the tests own, run in print mode."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CLAUDE_CODE_VERSION = "2.1.332"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "claude-code" / CLAUDE_CODE_VERSION


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the Claude Code end-to-end tests)")
    pytest.skip(f"{reason}; install Node.js 20+ and npm, or set CLAUDE_CODE_BIN to a claude binary")


@pytest.fixture(scope="session")
def claude_bin() -> str:
    explicit = os.environ.get("CLAUDE_CODE_BIN")
    if explicit:
        return explicit
    binary = CACHE / "node_modules" / ".bin" / "claude"
    if binary.exists():
        return str(binary)
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is not installed")
    command = [
        npm,
        "install",
        "--prefix",
        str(CACHE),
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        f"@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    if result.returncode != 0 or not binary.exists():
        _unavailable(f"npm could not install Claude Code {CLAUDE_CODE_VERSION}: {result.stderr[-2000:]}")
    return str(binary)


@dataclass
class ClaudeRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        return dict(json.loads(self.stdout))


@pytest.fixture
def run_claude(claude_bin: str, tmp_path: Path) -> Callable[..., ClaudeRun]:
    workdir = tmp_path / "work"
    workdir.mkdir()
    home = tmp_path / "claude-home"
    home.mkdir()

    def run(
        base_url: str, prompt: str, *args: str, env: dict[str, str] | None = None, timeout: float = 240
    ) -> ClaudeRun:
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "CLAUDE_CONFIG_DIR": str(home / ".claude"),
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": "sk-ant-test-client-key",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "IS_SANDBOX": "1",
            **(env or {}),
        }
        command = [claude_bin, "-p", prompt, "--output-format", "json", "--dangerously-skip-permissions", *args]
        completed = subprocess.run(
            command,
            cwd=workdir,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return ClaudeRun(completed.returncode, completed.stdout, completed.stderr)

    run.workdir = workdir  # type: ignore[attr-defined]
    return run
