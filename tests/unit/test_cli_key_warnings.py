"""`check` and `serve` agree with run_app.sh about keys: the placeholder from .env.example is no key,
and `serve` says so at start instead of failing on the first request."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from provider_proxy.cli.commands import app
from provider_proxy.config.settings import Settings

runner = CliRunner()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """`serve` up to the point where it would listen."""
    calls: list[Settings] = []
    monkeypatch.setattr("provider_proxy.server.run", calls.append)
    return calls


def _env(tmp_path: Path, text: str) -> str:
    env = tmp_path / "proxy.env"
    env.write_text(text)
    return str(env)


def test_check_refuses_the_placeholder_key_from_env_example(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    result = runner.invoke(app, ["check", "--env-file", str(example)])
    assert result.exit_code == 1, result.output
    assert "placeholder 'your-provider-key'" in result.output
    assert "OPENAI_API_KEY" in result.output
    assert "looks good" not in result.output


def test_a_placeholder_key_is_harmless_for_a_local_server(tmp_path: Path) -> None:
    env = _env(tmp_path, "OPENAI_API_KEY=your-provider-key\nOPENAI_BASE_URL=http://localhost:11434/v1\n")
    result = runner.invoke(app, ["check", "--env-file", env])
    assert result.exit_code == 0, result.output


def test_serve_warns_at_start_when_the_default_provider_has_no_key(tmp_path: Path, served: list[Settings]) -> None:
    result = runner.invoke(app, ["serve", "--env-file", _env(tmp_path, "BIG_MODEL=gpt-4.1\n")])
    assert result.exit_code == 0, result.output
    assert len(served) == 1
    assert "warning: provider 'default'" in result.output
    assert "no API key: set OPENAI_API_KEY" in result.output


def test_serve_warns_at_start_about_the_placeholder_key(tmp_path: Path, served: list[Settings]) -> None:
    result = runner.invoke(app, ["serve", "--env-file", _env(tmp_path, "OPENAI_API_KEY=your-provider-key\n")])
    assert len(served) == 1
    assert "warning:" in result.output and "placeholder" in result.output


def test_serve_starts_quietly_with_a_key_or_a_local_server(tmp_path: Path, served: list[Settings]) -> None:
    for text in ("OPENAI_API_KEY=sk-real-0123456789abcdef\n", "OPENAI_BASE_URL=http://127.0.0.1:8000/v1\n"):
        result = runner.invoke(app, ["serve", "--env-file", _env(tmp_path, text)])
        assert result.exit_code == 0 and "warning" not in result.output, result.output
    assert len(served) == 2
