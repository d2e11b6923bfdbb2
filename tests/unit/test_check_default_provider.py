"""`check` counts the default provider as used while model names that match no route or family go
to it, and says what fails when it has no key."""

from __future__ import annotations

from pathlib import Path

from provider_proxy.cli.check import check_config
from provider_proxy.config.settings import load_settings

PROVIDERS = """
[providers.openrouter]
base_url = "https://openrouter.ai/api/v1"
api_key = "sk-or-0123456789abcdef"
"""


def _findings(tmp_path: Path, routes: str = "", **settings: str) -> dict[str, tuple[str, str]]:
    config = tmp_path / "proxy.toml"
    config.write_text(PROVIDERS + routes)
    loaded = load_settings(env_file=None, config_file=config, **settings)
    return {f.message.split("'")[1]: (f.level, f.message) for f in check_config(loaded) if "provider '" in f.message}


def test_the_default_provider_serves_other_model_names_when_families_go_elsewhere(tmp_path: Path) -> None:
    findings = _findings(tmp_path, big_model="openrouter/qwen/qwen3-coder", small_model="openrouter/qwen/qwen3-32b")
    level, message = findings["default"]
    assert "no route uses it" not in message
    assert "serves other model names" in message
    assert level == "warning" and message.endswith("but has no API key: set OPENAI_API_KEY")
    assert findings["openrouter"][0] == "ok"


def test_the_default_provider_is_unused_only_behind_a_catch_all_route(tmp_path: Path) -> None:
    catch_all = '[[routes]]\nmatch = "*"\nprovider = "openrouter"\nmodel = "qwen/qwen3-coder"\n'
    findings = _findings(tmp_path, catch_all)
    level, message = findings["default"]
    assert level == "ok" and message.endswith("is configured but no route uses it")


def test_a_missing_default_key_is_an_error_when_families_use_it(tmp_path: Path) -> None:
    level, message = _findings(tmp_path)["default"]
    assert level == "error"
    assert "opus -> gpt-4.1" in message and "other model names" in message
