"""Provider profiles overridable flag by flag from the TOML file; one table of model facts; keys that
never show in a repr or a log line, tracebacks included."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from provider_proxy.config.proxy_config import build_config
from provider_proxy.config.settings import ConfigError, load_settings
from provider_proxy.conversion.request import to_openai
from provider_proxy.models.anthropic import MessagesRequest, Thinking
from provider_proxy.providers.model_facts import model_facts
from provider_proxy.providers.profiles import PROFILES
from provider_proxy.services.routing import Router
from provider_proxy.utils.logging import RedactingFormatter

SECRET = "sk-provider-secret-0123456789"


def config_with(tmp_path: Path, toml: str):  # type: ignore[no-untyped-def]
    (tmp_path / "proxy.toml").write_text(toml)
    return build_config(load_settings(env_file=None, openai_api_key="k", config_file=tmp_path / "proxy.toml"))


def test_a_single_profile_flag_is_overridden_from_the_config_file(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        '[providers.local]\nbase_url = "http://127.0.0.1:8000/v1"\nkind = "vllm"\n'
        "[providers.local.profile]\nstream_usage = false\nmax_stop_sequences = 2\n",
    )
    profile = config.providers["local"].profile
    assert (profile.kind, profile.stream_usage, profile.max_stop_sequences) == ("vllm", False, 2)
    assert profile.supports_top_k == PROFILES["vllm"].supports_top_k  # the rest is the named profile's
    route = Router(config).resolve("local/qwen3-coder")
    request = MessagesRequest(model="local/qwen3-coder", messages=[], max_tokens=10, stream=True)
    assert "stream_options" not in to_openai(request, route).body


@pytest.mark.parametrize(
    ("profile", "named"),
    [
        ("stream_usag = false", "providers.local.profile.stream_usag: not a profile flag"),
        ('stream_usage = "no"', "providers.local.profile.stream_usage"),
        ('reasoning_style = "loud"', "providers.local.profile.reasoning_style"),
        ('kind = "openai"', "providers.local.profile.kind: not a profile flag"),
    ],
)
def test_a_bad_profile_override_names_the_key(tmp_path: Path, profile: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        config_with(
            tmp_path,
            f'[providers.local]\nbase_url = "http://127.0.0.1:8000/v1"\n[providers.local.profile]\n{profile}\n',
        )


@pytest.mark.parametrize(
    ("model", "reasoning", "openai_reasoning", "parallel", "encoding"),
    [
        ("gpt-4o", None, False, True, "o200k_base"),
        ("openai/gpt-4.1-mini", None, False, True, "o200k_base"),
        ("gpt-5-mini", True, True, True, "o200k_base"),
        ("o4-mini", True, True, False, "o200k_base"),
        ("gpt-4-turbo", None, False, True, "cl100k_base"),
        ("deepseek-v4-pro", True, False, True, None),
        ("gemini-2.5-pro", True, False, True, None),
        ("accounts/fireworks/models/qwen3-coder-480b", True, False, True, None),
        ("some-local-model", None, False, True, None),
    ],
)
def test_the_table_gives_the_api_rules_and_tokenizer_of_a_model(
    model: str, reasoning: bool | None, openai_reasoning: bool, parallel: bool, encoding: str | None
) -> None:
    facts = model_facts(model)
    assert (facts.reasoning, facts.openai_reasoning, facts.parallel_tool_calls, facts.tokenizer) == (
        reasoning,
        openai_reasoning,
        parallel,
        encoding,
    )


def test_reasoning_forced_off_by_a_route_wins_over_the_profile(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        '[providers.or]\nbase_url = "https://openrouter.ai/api/v1"\n'
        '[[routes]]\nmatch = "claude-opus*"\nprovider = "or"\nmodel = "x/y"\nreasoning = false\n',
    )
    route = Router(config).resolve("claude-opus-4-6")
    request = MessagesRequest(
        model="claude-opus-4-6", messages=[], max_tokens=10, thinking=Thinking(type="enabled", budget_tokens=2048)
    )
    assert "reasoning" not in to_openai(request, route).body
    unrouted = Router(config).resolve("or/x/y")
    assert to_openai(request, unrouted).body["reasoning"] == {"effort": "low"}


def test_provider_and_config_reprs_never_show_a_key(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        f'[providers.p]\nbase_url = "https://example.com/v1"\napi_key = "{SECRET}"\n'
        f'headers = {{ "X-Key" = "{SECRET}" }}\n',
    )
    assert config.providers["p"].api_key == SECRET
    assert SECRET not in repr(config)
    assert SECRET not in repr(config.providers["p"])


def test_the_log_formatter_redacts_tracebacks_too() -> None:
    formatter = RedactingFormatter("%(message)s", [SECRET])
    try:
        raise RuntimeError(f"upstream said: invalid key {SECRET}")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed for %s", (SECRET,), sys.exc_info())
    line = formatter.format(record)
    assert "RuntimeError" in line and "Traceback" in line
    assert SECRET not in line
