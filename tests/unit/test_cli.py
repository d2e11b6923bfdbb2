"""The command line: `check` says what is wrong in plain words; bad settings stop `serve` early."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provider_proxy.cli.code import compaction_env
from provider_proxy.cli.commands import app
from tests.support.fake_upstream import FakeUpstream, Reply

runner = CliRunner()


def test_check_reports_a_missing_api_key_by_name(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "--env-file", str(tmp_path / "none.env")])
    assert result.exit_code == 1
    assert "OPENAI_API_KEY" in result.output
    assert "no API key" in result.output


def test_check_passes_with_a_key_and_never_prints_it(tmp_path: Path) -> None:
    env = tmp_path / "proxy.env"
    env.write_text("OPENAI_API_KEY=sk-test-checkkey-0123456789\nBIG_MODEL=gpt-4.1\n")
    result = runner.invoke(app, ["check", "--env-file", str(env)])
    assert result.exit_code == 0, result.output
    assert "Configuration looks good" in result.output
    assert "checkkey" not in result.output


def test_local_providers_need_no_key(tmp_path: Path) -> None:
    env = tmp_path / "proxy.env"
    env.write_text("OPENAI_BASE_URL=http://localhost:11434/v1\n")
    result = runner.invoke(app, ["check", "--env-file", str(env)])
    assert result.exit_code == 0, result.output
    assert "local server" in result.output


def test_bad_settings_stop_serve_with_the_key_named(tmp_path: Path) -> None:
    env = tmp_path / "proxy.env"
    env.write_text("PORT=not-a-port\n")
    result = runner.invoke(app, ["serve", "--env-file", str(env)])
    assert result.exit_code == 2
    assert "PORT" in result.output


def test_check_names_a_typo_in_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "proxy.toml"
    config.write_text('[providers.x]\nbase_url = "http://h/v1"\napi_kye = "oops"\n')
    result = runner.invoke(app, ["check", "--config", str(config), "--env-file", str(tmp_path / "none.env")])
    assert result.exit_code == 2
    assert "api_kye" in result.output


def test_check_probe_asks_the_provider_whether_the_key_works(tmp_path: Path, upstream: FakeUpstream) -> None:
    env = tmp_path / "proxy.env"
    env.write_text(f"OPENAI_API_KEY=sk-test-probekey-0123456789\nOPENAI_BASE_URL={upstream.url}\n")
    upstream.queue(Reply(json={"object": "list", "data": [{"id": "gpt-4.1"}]}))
    result = runner.invoke(app, ["check", "--probe", "--env-file", str(env)])
    assert result.exit_code == 0, result.output
    assert "answered GET /models" in result.output
    assert upstream.last.path == "/v1/models"
    assert upstream.last.headers["Authorization"] == "Bearer sk-test-probekey-0123456789"

    upstream.queue(Reply(status=401, json={"error": {"message": "Incorrect API key provided"}}))
    result = runner.invoke(app, ["check", "--probe", "--env-file", str(env)])
    assert result.exit_code == 1
    assert "HTTP 401" in result.output and "Incorrect API key" in result.output
    assert "probekey" not in result.output


def test_check_explains_which_scenario_and_route_a_sample_request_takes(tmp_path: Path) -> None:
    env = tmp_path / "proxy.env"
    env.write_text("OPENAI_API_KEY=sk-test-checkkey-0123456789\nBIG_MODEL=big\n")
    toml = tmp_path / "proxy.toml"
    toml.write_text(
        '[providers.deep]\nbase_url = "http://127.0.0.1:9002/v1"\n'
        '[scenarios]\nimage = "deep/eyes"\nthink = { target = "deep/reasoner", fallbacks = ["default/big"] }\n'
    )
    sample = tmp_path / "request.json"
    sample.write_text(
        '{"model": "claude-opus-4-6", "max_tokens": 10, "thinking": {"type": "enabled", "budget_tokens": 2048},'
        ' "messages": [{"role": "user", "content": "hi"}]}'
    )
    result = runner.invoke(app, ["check", "--env-file", str(env), "--config", str(toml), "--request", str(sample)])
    assert result.exit_code == 0, result.output
    assert "[route] scenarios in order: image, think (matches)" in result.output
    assert "[route] goes to deep/reasoner (scenario 'think')" in result.output
    assert "[route] then, if it fails before answering: default/big" in result.output
    subagent = runner.invoke(
        app,
        ["check", "--env-file", str(env), "--request", str(sample), "--header", "x-claude-code-agent-id: a1"],
    )
    assert "goes to default/big (routing by name)" in subagent.output


def test_check_refuses_a_sample_request_that_is_not_one(tmp_path: Path) -> None:
    env = tmp_path / "proxy.env"
    env.write_text("OPENAI_API_KEY=sk-test-checkkey-0123456789\n")
    sample = tmp_path / "request.json"
    sample.write_text('{"model": "x"}')
    result = runner.invoke(app, ["check", "--env-file", str(env), "--request", str(sample)])
    assert result.exit_code == 2
    assert "--request: messages: Field required" in result.output


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (None, {}),
        (1_047_576, {"CLAUDE_CODE_AUTO_COMPACT_WINDOW": "1047576"}),
        (128_000, {"CLAUDE_CODE_AUTO_COMPACT_WINDOW": "128000"}),
        (100_000, {"CLAUDE_CODE_AUTO_COMPACT_WINDOW": "100000"}),
        (32_768, {"CLAUDE_CODE_AUTO_COMPACT_WINDOW": "100000", "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE": "24"}),
        (65_536, {"CLAUDE_CODE_AUTO_COMPACT_WINDOW": "100000", "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE": "49"}),
    ],
)
def test_compaction_environment_follows_the_window(window: int | None, expected: dict[str, str]) -> None:
    assert compaction_env(window) == expected


def test_code_print_env_tells_claude_code_the_smallest_main_window(tmp_path: Path) -> None:
    config = tmp_path / "proxy.toml"
    config.write_text(
        '[[routes]]\nmatch = "claude-*opus*"\nmodel = "local-32k"\nfallbacks = ["default/gpt-4o"]\n'
        '[models."local-32k"]\ncontext_window = 32768\n'
    )
    env = tmp_path / "proxy.env"
    env.write_text("BIG_MODEL=gpt-4o\n")
    result = runner.invoke(app, ["code", "--print-env", "--env-file", str(env), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "export CLAUDE_CODE_AUTO_COMPACT_WINDOW=100000" in result.output
    assert "export CLAUDE_AUTOCOMPACT_PCT_OVERRIDE=24" in result.output
    plain = runner.invoke(app, ["code", "--print-env", "--env-file", str(env)])
    assert "export CLAUDE_CODE_AUTO_COMPACT_WINDOW=128000" in plain.output
    assert "PCT_OVERRIDE" not in plain.output


def test_serve_refuses_to_listen_beyond_loopback_without_a_client_key(tmp_path: Path) -> None:
    env = tmp_path / "proxy.env"
    env.write_text("OPENAI_API_KEY=sk-test-servekey-0123456789\nHOST=0.0.0.0\n")
    result = runner.invoke(app, ["serve", "--env-file", str(env)])
    assert result.exit_code == 2
    assert "HOST=0.0.0.0 would let anyone who reaches the port spend your provider credit" in result.output
    assert "--allow-open" in result.output


def test_serve_beyond_loopback_is_allowed_once_named_keys_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / "proxy.env"
    env.write_text(f"OPENAI_API_KEY=sk-test-servekey-0123456789\nHOST=0.0.0.0\nKEYS_FILE={tmp_path / 'keys.json'}\n")
    created = runner.invoke(app, ["keys", "create", "alice", "--rpm", "5", "--env-file", str(env)])
    assert created.exit_code == 0, created.output
    served: list[object] = []
    monkeypatch.setattr("provider_proxy.server.run", served.append)
    result = runner.invoke(app, ["serve", "--env-file", str(env)])
    assert result.exit_code == 0, result.output
    assert len(served) == 1


def test_keys_create_prints_the_key_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    env = tmp_path / "proxy.env"
    env.write_text(f"KEYS_FILE={tmp_path / 'keys.json'}\n")
    created = runner.invoke(app, ["keys", "create", "bob", "--model", "claude-*haiku*", "--env-file", str(env)])
    assert created.exit_code == 0, created.output
    key = next(line for line in created.output.splitlines() if line.startswith("ppk_"))
    stored = (tmp_path / "keys.json").read_text()
    assert key not in stored and hashlib.sha256(key.encode()).hexdigest() in stored
    assert oct((tmp_path / "keys.json").stat().st_mode & 0o777) == "0o600"
    again = runner.invoke(app, ["keys", "create", "bob", "--env-file", str(env)])
    assert again.exit_code == 2 and "exists already" in again.output
    listed = runner.invoke(app, ["keys", "list", "--env-file", str(env)], env={"COLUMNS": "200"})
    assert "bob" in listed.output and "claude-*haiku*" in listed.output and key not in listed.output
    revoked = runner.invoke(app, ["keys", "revoke", "bob", "--env-file", str(env)])
    assert revoked.exit_code == 0 and "Revoked key 'bob'" in revoked.output
    unknown = runner.invoke(app, ["keys", "revoke", "nobody", "--env-file", str(env)])
    assert unknown.exit_code == 2 and "no key named 'nobody'" in unknown.output


def test_code_uses_the_users_own_client_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / "proxy.env"
    env.write_text("PROXY_API_KEY=operator-key-0123\n")
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "ppk_mine")
    result = runner.invoke(app, ["code", "--print-env", "--env-file", str(env)])
    assert "export ANTHROPIC_AUTH_TOKEN=ppk_mine" in result.output
