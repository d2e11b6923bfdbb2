"""Provider base URLs are checked whole at load: `check` and `serve` stop with exit 2 and one line
that names the setting or the TOML key, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from provider_proxy.cli.commands import app
from provider_proxy.config.urls import base_url_problem

runner = CliRunner()


@pytest.fixture(autouse=True)
def serve_never_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    """A URL that passed validation would start a server; these tests need the refusal before that."""

    def run(*args: object, **kwargs: object) -> None:
        raise AssertionError("serve got past the configuration check")

    monkeypatch.setattr("uvicorn.run", run)


BAD_URLS = {
    "https://api.example.com:99999/v1": "port '99999' is not a number from 1 to 65535",
    "http://localhost:abc": "port 'abc' is not a number from 1 to 65535",
    "http://localhost:0/v1": "port '0' is not a number from 1 to 65535",
    "http://": "has no host name",
    "http:///v1": "has no host name",
    "http://exa mple.com/v1": "must not contain spaces",
    "http://[::1/v1": "is not a valid URL",
    "localhost:11434/v1": "must start with http:// or https://",
    "https://api.example.com/v1?key=1": "must not have a query",
}


@pytest.mark.parametrize("url", ["https://api.openai.com/v1", "http://[::1]:8080/v1", "http://localhost:11434/v1"])
def test_a_usable_base_url_passes(url: str) -> None:
    assert base_url_problem(url) is None


@pytest.mark.parametrize(("url", "problem"), BAD_URLS.items())
def test_a_base_url_that_cannot_work_is_described(url: str, problem: str) -> None:
    assert problem in (base_url_problem(url) or "")


def _refusal(tmp_path: Path, command: str, env_text: str, *options: str) -> str:
    """The one line `command` stops with, after checking it stopped with exit code 2."""
    env = tmp_path / "proxy.env"
    env.write_text("OPENAI_API_KEY=sk-test-0123456789abcdef\n" + env_text)
    result = runner.invoke(app, [command, "--env-file", str(env), *options])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("command", ["check", "serve"])
@pytest.mark.parametrize(("url", "problem"), BAD_URLS.items())
def test_a_bad_openai_base_url_stops_the_command_with_one_line_naming_it(
    tmp_path: Path, command: str, url: str, problem: str
) -> None:
    line = _refusal(tmp_path, command, f"OPENAI_BASE_URL={url}\n")
    assert line.startswith(f"Configuration error: OPENAI_BASE_URL: {problem}")


@pytest.mark.parametrize("command", ["check", "serve"])
@pytest.mark.parametrize(("url", "problem"), BAD_URLS.items())
def test_a_bad_base_url_in_the_config_file_stops_the_command_naming_the_key(
    tmp_path: Path, command: str, url: str, problem: str
) -> None:
    config = tmp_path / "proxy.toml"
    config.write_text(f'[providers.groq]\nbase_url = "{url}"\napi_key = "gsk-0123456789"\n')
    line = _refusal(tmp_path, command, "", "--config", str(config))
    assert line.startswith(f"Configuration error: providers.groq.base_url: {problem}")
