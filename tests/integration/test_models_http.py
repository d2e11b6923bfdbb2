"""`GET /v1/models` and `GET /v1/models/{id}` in Anthropic's shape, read back by the anthropic SDK:
the family names and the config file's routes, with the routed model's window and output limit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.proxy_server import ProxyServer
from tests.support.sdk import sdk_client

CONFIG = """
[providers.local]
base_url = "http://127.0.0.1:9/v1"
kind = "vllm"

[[routes]]
match = "claude-*haiku*"
provider = "local"
model = "qwen3-coder:30b"

[models."qwen3-coder:30b"]
context_window = 32768
max_output_tokens = 8192
"""


def started(start_proxy: Callable[..., ProxyServer], tmp_path: Path, **settings: object) -> ProxyServer:
    (tmp_path / "proxy.toml").write_text(CONFIG)
    return start_proxy(config_file=tmp_path / "proxy.toml", **settings)


def test_the_list_has_the_families_and_routes_with_their_windows(
    start_proxy: Callable[..., ProxyServer], tmp_path: Path
) -> None:
    proxy = started(start_proxy, tmp_path, big_model="gpt-4o")
    page = sdk_client(proxy.url).models.list()
    models = {model.id: model for model in page.data}
    assert list(models) == ["claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5", "local/qwen3-coder:30b"]
    opus = models["claude-opus-5-5"]
    assert opus.type == "model" and opus.display_name == "claude-opus-5-5 -> default/gpt-4o"
    assert (opus.max_input_tokens, opus.max_tokens) == (128_000, 16_384)
    haiku = models["claude-haiku-5-5"]
    assert (haiku.max_input_tokens, haiku.max_tokens) == (32768, 8192)
    raw = httpx.get(f"{proxy.url}/v1/models", headers={"x-api-key": "k"}).json()
    assert (raw["first_id"], raw["last_id"], raw["has_more"]) == ("claude-opus-5-5", "local/qwen3-coder:30b", False)
    assert raw["data"][0]["max_output_tokens"] == 16_384 and raw["data"][0]["created_at"] == "1970-01-01T00:00:00Z"


def test_the_list_pages_like_anthropics(start_proxy: Callable[..., ProxyServer], tmp_path: Path) -> None:
    proxy = started(start_proxy, tmp_path)
    first = httpx.get(f"{proxy.url}/v1/models?limit=2", headers={"x-api-key": "k"}).json()
    assert [m["id"] for m in first["data"]] == ["claude-opus-5-5", "claude-sonnet-5-5"] and first["has_more"]
    rest = httpx.get(f"{proxy.url}/v1/models?after_id={first['last_id']}", headers={"x-api-key": "k"}).json()
    assert [m["id"] for m in rest["data"]] == ["claude-haiku-5-5", "local/qwen3-coder:30b"] and not rest["has_more"]
    bad = httpx.get(f"{proxy.url}/v1/models?limit=0", headers={"x-api-key": "k"})
    assert bad.status_code == 400 and "limit" in bad.json()["error"]["message"]


def test_one_model_by_id_even_with_slashes_and_dates(start_proxy: Callable[..., ProxyServer], tmp_path: Path) -> None:
    proxy = started(start_proxy, tmp_path, big_model="gpt-4o")
    client = sdk_client(proxy.url)
    local = client.models.retrieve("local/qwen3-coder:30b")
    assert (local.id, local.max_input_tokens, local.max_tokens) == ("local/qwen3-coder:30b", 32768, 8192)
    dated = client.models.retrieve("claude-opus-4-1-20250805")
    assert dated.display_name == "claude-opus-4-1-20250805 -> default/gpt-4o" and dated.max_input_tokens == 128_000


def test_models_need_the_proxy_key_when_one_is_set(start_proxy: Callable[..., ProxyServer], tmp_path: Path) -> None:
    proxy = started(start_proxy, tmp_path, proxy_api_key="the-proxy-key")
    assert httpx.get(f"{proxy.url}/v1/models").status_code == 401
    assert httpx.get(f"{proxy.url}/v1/models/claude-opus-5-5").status_code == 401
    assert httpx.get(f"{proxy.url}/v1/models", headers={"x-api-key": "the-proxy-key"}).status_code == 200
    assert httpx.post(f"{proxy.url}/v1/models", headers={"x-api-key": "the-proxy-key"}).status_code == 405
