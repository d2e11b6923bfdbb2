"""`[server_tools.web_search]`: the backend, its key and URL, and the errors that name what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from provider_proxy.config.proxy_config import ProxyConfig, build_config
from provider_proxy.config.settings import ConfigError, load_settings


def config(tmp_path: Path, toml: str) -> ProxyConfig:
    path = tmp_path / "proxy.toml"
    path.write_text(toml)
    return build_config(load_settings(env_file=None, openai_api_key="k", config_file=path))


def test_without_the_table_there_is_no_backend(tmp_path: Path) -> None:
    assert config(tmp_path, "").web_search is None


def test_brave_takes_its_key_from_the_environment_and_the_key_is_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRAVE_TEST_KEY", " brave-key-0123456789 \r")
    loaded = config(tmp_path, '[server_tools.web_search]\nbackend = "brave"\napi_key_env = "BRAVE_TEST_KEY"\n')
    search = loaded.web_search
    assert search is not None
    assert search.url == "https://api.search.brave.com/res/v1/web/search" and search.max_results == 5
    assert search.api_key == "brave-key-0123456789" and "brave-key" not in repr(search)
    assert "brave-key-0123456789" in loaded.secrets


def test_searxng_calls_the_instance_search_path_without_a_key(tmp_path: Path) -> None:
    toml = '[server_tools.web_search]\nbackend = "searxng"\nbase_url = "http://127.0.0.1:8888/"\nmax_results = 8\n'
    search = config(tmp_path, toml).web_search
    assert search is not None and search.url == "http://127.0.0.1:8888/search" and search.api_key is None
    assert search.max_results == 8


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('backend = "searxng"\n', "server_tools.web_search.base_url: required for searxng"),
        ('backend = "tavily"\n', "the tavily backend needs a key"),
        ('backend = "brave"\napi_key_env = "NOT_SET_ANYWHERE_X"\n', "NOT_SET_ANYWHERE_X is not set"),
        ('backend = "searxng"\nbase_url = "localhost:8888"\n', "must start with http://"),
        ('backend = "bing"\n', "server_tools.web_search.backend"),
        ('backend = "brave"\napi_key = "k"\nmax_results = 50\n', "max_results"),
        ('backend = "brave"\napi_key = "k"\nmax_result = 5\n', "max_result"),
    ],
)
def test_a_wrong_setting_is_named(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(tmp_path, "[server_tools.web_search]\n" + toml)
