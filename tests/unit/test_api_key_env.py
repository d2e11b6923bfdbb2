"""`api_key_env` names a variable that may be exported or written in `.env`, and the example config
file says so."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from provider_proxy.cli.commands import app

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
[providers.groq]
base_url = "https://api.groq.com/openai/v1"
api_key_env = "GROQ_KEY_FROM_DOTENV"

[[routes]]
match = "claude-*haiku*"
provider = "groq"
model = "llama-3.1-8b-instant"
"""


def test_a_key_named_by_api_key_env_is_read_from_the_env_file(tmp_path: Path) -> None:
    config = tmp_path / "proxy.toml"
    config.write_text(CONFIG)
    env = tmp_path / "proxy.env"
    env.write_text("OPENAI_API_KEY=sk-test-0123456789abcdef\nGROQ_KEY_FROM_DOTENV=gsk_0123456789abcdefghijkl\n")
    result = CliRunner().invoke(app, ["check", "--config", str(config), "--env-file", str(env)])
    assert result.exit_code == 0, result.output
    assert "provider 'groq'" in result.output and "haiku -> llama-3.1-8b-instant" in result.output


def test_the_example_config_says_api_key_env_may_be_set_in_the_env_file() -> None:
    text = (ROOT / "config.example.toml").read_text()
    entry = re.search(r"#   api_key_env .*?(?=\n#   \w)", text, re.DOTALL)
    assert entry is not None
    described = " ".join(line.lstrip("# ").strip() for line in entry.group(0).splitlines())
    assert ".env file" in described
    assert "read from the process environment (" not in described
