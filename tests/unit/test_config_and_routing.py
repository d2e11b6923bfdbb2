"""Settings, the TOML file and routing: bad input is named, families map by pattern."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from provider_proxy.config.proxy_config import build_config
from provider_proxy.config.settings import ConfigError, load_settings
from provider_proxy.conversion.request import to_openai
from provider_proxy.models.anthropic import MessagesRequest
from provider_proxy.providers.model_facts import Prices
from provider_proxy.providers.profiles import detect_profile
from provider_proxy.services.routing import Router, claude_family


def router(tmp_path: Path, toml: str = "", **settings: object) -> Router:
    if toml:
        (tmp_path / "proxy.toml").write_text(toml)
        settings["config_file"] = tmp_path / "proxy.toml"
    return Router(build_config(load_settings(env_file=None, openai_api_key="k", **settings)))


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("claude-haiku-4-5-20251001", "haiku"),
        ("claude-3-5-haiku-latest", "haiku"),
        ("claude-3-haiku-20240307", "haiku"),
        ("claude-sonnet-4-5", "sonnet"),
        ("claude-3-7-sonnet-20250219", "sonnet"),
        ("claude-opus-5-5", "opus"),
        ("claude-opus-4-1-20250805", "opus"),
        ("claude-sonnet-9", "sonnet"),
        ("anthropic/claude-opus-4.5", "opus"),
        ("gpt-4o", None),
        ("my-haiku-poem-model", None),
        ("claude-sonnetish", None),
    ],
)
def test_claude_models_map_by_family_including_dated_and_future_ids(model: str, family: str | None) -> None:
    assert claude_family(model) == family


def test_families_route_to_big_middle_and_small_models(tmp_path: Path) -> None:
    routes = router(tmp_path, big_model="B", small_model="S", middle_model="M")
    assert routes.resolve("claude-opus-4-7").model == "B"
    assert routes.resolve("claude-sonnet-4-6").model == "M"
    assert routes.resolve("claude-haiku-4-5").model == "S"
    assert routes.resolve("qwen3:8b").model == "qwen3:8b"


def test_sonnet_uses_big_model_when_no_middle_model(tmp_path: Path) -> None:
    assert router(tmp_path, big_model="B").resolve("claude-sonnet-4-6").model == "B"


TOML = """
[providers.local]
base_url = "http://127.0.0.1:11434/v1"

[providers.router]
base_url = "https://openrouter.ai/api/v1"
api_key_env = "TEST_ROUTER_KEY"
headers = { "X-Title" = "tests" }

[[routes]]
match = "claude-*haiku*"
provider = "local"
model = "qwen3:8b"
max_output_tokens = 2048

[[routes]]
match = "gpt-*"
provider = "router"

[models."openai/gpt-5"]
max_output_tokens = 50000
"""


def test_config_file_routes_come_first_and_name_providers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_ROUTER_KEY", "router-key")
    routes = router(tmp_path, TOML, big_model="router/openai/gpt-5")
    haiku = routes.resolve("claude-haiku-4-5-20251001")
    assert (haiku.provider.name, haiku.model, haiku.max_output_tokens) == ("local", "qwen3:8b", 2048)
    assert haiku.provider.profile.kind == "ollama"
    gpt = routes.resolve("gpt-4o")
    assert (gpt.provider.name, gpt.model, gpt.provider.api_key) == ("router", "gpt-4o", "router-key")
    assert gpt.provider.profile.kind == "openrouter"
    opus = routes.resolve("claude-opus-4-7")
    assert (opus.provider.name, opus.model, opus.max_output_tokens) == ("router", "openai/gpt-5", 50000)
    explicit = routes.resolve("local/llama3.3")
    assert (explicit.provider.name, explicit.model) == ("local", "llama3.3")


def test_output_limit_comes_from_setting_then_known_table(tmp_path: Path) -> None:
    assert router(tmp_path, big_model="gpt-4o").resolve("claude-opus-4-7").max_output_tokens == 16384
    assert (
        router(tmp_path, big_model="gpt-4o", max_output_tokens=9000).resolve("claude-opus-4-7").max_output_tokens
        == 9000
    )
    assert router(tmp_path, big_model="mystery").resolve("claude-opus-4-7").max_output_tokens == 16384


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"port": "eighty"}, "PORT"),
        ({"port": 70000}, "PORT"),
        ({"log_level": "LOUD"}, "LOG_LEVEL"),
        ({"openai_base_url": "api.openai.com"}, "OPENAI_BASE_URL"),
        ({"request_timeout": 0}, "REQUEST_TIMEOUT"),
    ],
)
def test_bad_settings_fail_with_the_key_named(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(env_file=None, **overrides)


def test_settings_come_from_env_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("BIG_MODEL=from-dotenv\nSMALL_MODEL=small-dotenv\nPORT=9000\n")
    monkeypatch.setenv("SMALL_MODEL", "small-env")
    settings = load_settings(env_file=tmp_path / ".env")
    assert (settings.big_model, settings.small_model, settings.port) == ("from-dotenv", "small-env", 9000)


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[providers.x]\nbase_url = "http://h/v1"\nbase_ulr = "typo"\n', "base_ulr"),
        ('[[routes]]\nmatch = "*"\nprovider = "nowhere"\n', "routes[0].provider"),
        ('[providers.x]\nbase_url = "http://h/v1"\nkind = "strange"\n', "providers.x.kind"),
        ("not toml = = =", "not valid TOML"),
        ('[providers.x]\nbase_url = "http://h/v1"\nheaders = { "X-Title" = "a\\r\\nInjected: 1" }\n', "X-Title"),
        ('[models."m"]\ncontext_window = "big"\n', "models.m.context_window"),
        ('[models."m"]\ncontext_window = 0\n', "models.m.context_window"),
        ('[models."m"]\ninput_per_mtok = -1\n', "models.m.input_per_mtok"),
        ('[models."m"]\nvision = "maybe"\n', "models.m.vision"),
        ('[models."m"]\ncontext_windw = 1000\n', "models.m.context_windw"),
    ],
)
def test_config_file_is_strict_and_names_the_problem(tmp_path: Path, toml: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("[", r"\[")):
        router(tmp_path, toml)


def test_api_keys_lose_stray_whitespace_and_refuse_inner_line_breaks(tmp_path: Path) -> None:
    config = build_config(load_settings(env_file=None, openai_api_key="sk-test-0123456789\r\n"))
    assert config.providers["default"].api_key == "sk-test-0123456789"
    with pytest.raises(ConfigError, match="OPENAI_API_KEY: the API key contains a space or line break"):
        build_config(load_settings(env_file=None, openai_api_key="sk-test-01234\nInjected: yes"))


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        build_config(load_settings(env_file=None, config_file=tmp_path / "absent.toml"))


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://api.openai.com/v1", "openai"),
        ("https://my-res.openai.azure.com/openai/deployments/gpt4o", "azure"),
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("https://api.deepseek.com/v1", "deepseek"),
        ("https://generativelanguage.googleapis.com/v1beta/openai", "gemini"),
        ("https://api.groq.com/openai/v1", "groq"),
        ("https://api.mistral.ai/v1", "mistral"),
        ("http://localhost:11434/v1", "ollama"),
        ("http://127.0.0.1:1234/v1", "lmstudio"),
        ("http://10.0.0.5:8000/v1", "generic"),
    ],
)
def test_provider_profile_is_detected_from_the_base_url(url: str, kind: str) -> None:
    assert detect_profile(url) == kind


def test_route_overrides_replace_what_the_client_asked_for(tmp_path: Path) -> None:
    routes = router(
        tmp_path,
        '[providers.ds]\nbase_url = "https://api.deepseek.com/v1"\n'
        '[[routes]]\nmatch = "claude-opus*"\nprovider = "ds"\nmodel = "deepseek-v4-pro"\n'
        'temperature = 0.2\nreasoning_effort = "high"\nmax_tokens = 2000\n',
    )
    request = msgspec.convert(
        {
            "model": "claude-opus-4-6",
            "max_tokens": 32000,
            "temperature": 1.0,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": "hi"}],
        },
        MessagesRequest,
    )
    body = to_openai(request, routes.resolve("claude-opus-4-6")).body
    assert (body.get("temperature"), body.get("reasoning_effort"), body.get("max_tokens")) == (0.2, "high", 2000)
    plain = to_openai(request, routes.resolve("ds/deepseek-v4-pro")).body
    assert (plain.get("temperature"), plain.get("reasoning_effort")) == (1.0, "low")


def test_a_route_override_out_of_range_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"routes\.0\.temperature"):
        router(tmp_path, '[[routes]]\nmatch = "*"\ntemperature = 5\n')


def test_model_entries_override_the_datasets_facts(tmp_path: Path) -> None:
    toml = (
        '[models."gpt-5"]\ncontext_window = 32768\nvision = false\ntool_calling = false\n'
        "output_per_mtok = 1.5\nmax_output_tokens = 4096\n"
        '[models."my-local"]\ncontext_window = 8192\ninput_per_mtok = 0.1\n'
    )
    routes = router(tmp_path, toml)
    gpt5 = routes.resolve("gpt-5")
    facts = gpt5.facts
    assert (facts.context_window, facts.input_window, facts.vision, facts.tool_calling) == (32768, 32768, False, False)
    assert facts.prices is not None and facts.prices.output_per_mtok == 1.5
    assert facts.prices.input_per_mtok > 0  # the dataset's input price is kept
    assert (gpt5.max_output_tokens, facts.max_output_tokens) == (4096, 4096)
    local = routes.resolve("my-local").facts
    assert (local.context_window, local.prices) == (8192, Prices(0.1, 0.0, None))
    # Without an entry the dataset's facts stand.
    assert router(tmp_path).resolve("gpt-5").facts.context_window == 400_000
