"""The one upstream-API seam (`conversion.apis`): how a provider entry picks its API, that every API
has its object, and what every API's `decode` does with an answer that is not UTF-8."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import msgspec
import orjson
import pytest

from provider_proxy.config.provider import Route
from provider_proxy.config.proxy_config import ProxyConfig, build_config
from provider_proxy.config.settings import ConfigError, load_settings
from provider_proxy.conversion.apis import APIS, upstream_api
from provider_proxy.conversion.upstream_api import ClientRequest
from provider_proxy.models.anthropic import MessagesRequest
from provider_proxy.providers.profiles import UpstreamApiName
from provider_proxy.services.routing import Router
from tests.support import responses_api

REQUEST = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}]}


def config(tmp_path: Path, entry: str) -> ProxyConfig:
    (tmp_path / "proxy.toml").write_text(
        f'[providers.p]\napi_key = "sk-0123456789"\n{entry}\n'
        '[[routes]]\nmatch = "claude-*"\nprovider = "p"\nmodel = "upstream-model"\n'
    )
    return build_config(load_settings(env_file=None, config_file=tmp_path / "proxy.toml"))


def test_every_upstream_api_a_profile_can_name_has_its_object() -> None:
    assert set(APIS) == set(get_args(UpstreamApiName))


@pytest.mark.parametrize(
    ("entry", "api", "url"),
    [
        ('base_url = "https://api.openai.com/v1"', "chat", "https://api.openai.com/v1/chat/completions"),
        (
            'base_url = "https://api.openai.com/v1"\napi = "responses"',
            "responses",
            "https://api.openai.com/v1/responses",
        ),
        ('base_url = "https://api.openai.com/v1"\napi = "chat"', "chat", "https://api.openai.com/v1/chat/completions"),
        ('base_url = "https://api.anthropic.com/v1"', "anthropic", "https://api.anthropic.com/v1/messages"),
        ('base_url = "https://gw.example.com"\nkind = "anthropic"', "anthropic", "https://gw.example.com/v1/messages"),
    ],
)
def test_a_provider_entry_picks_its_api_by_api_or_by_kind(tmp_path: Path, entry: str, api: str, url: str) -> None:
    provider = config(tmp_path, entry).providers["p"]
    assert provider.profile.api == api
    assert upstream_api(provider).url(provider, "upstream-model") == url


def test_an_openai_api_on_an_anthropic_kind_is_an_error_that_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"providers\.p\.api: 'responses' is an OpenAI API.*kind 'anthropic'"):
        config(tmp_path, 'base_url = "https://api.anthropic.com/v1"\napi = "responses"')


def test_the_api_is_not_a_profile_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"providers\.p\.profile\.api: not a profile flag"):
        config(tmp_path, 'base_url = "https://api.openai.com/v1"\n[providers.p.profile]\napi = "responses"')


def route(tmp_path: Path, entry: str) -> Route:
    return Router(config(tmp_path, entry)).resolve("claude-sonnet-4-6")


def decoded(target: Route, answer: bytes) -> dict[str, Any]:
    raw = orjson.dumps(REQUEST)
    api = upstream_api(target.provider)
    prepared = api.prepare(ClientRequest(msgspec.json.decode(raw, type=MessagesRequest), raw), target)
    return dict(orjson.loads(api.decode(answer, prepared, ()).body))


def chat_answer(text: str) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "model": "upstream-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2},
    }


def anthropic_answer(text: str) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "upstream-model",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 2},
    }


@pytest.mark.parametrize(
    ("entry", "answer"),
    [
        ('base_url = "https://api.openai.com/v1"', chat_answer("caf!")),
        (
            'base_url = "https://api.openai.com/v1"\napi = "responses"',
            responses_api.response([responses_api.message("caf!")], usage_=responses_api.usage()),
        ),
        ('base_url = "https://api.anthropic.com/v1"', anthropic_answer("caf!")),
    ],
)
def test_every_api_decodes_an_answer_cut_inside_a_character_with_a_replacement(
    tmp_path: Path, entry: str, answer: dict[str, Any]
) -> None:
    # The provider cut a two-byte character: its first byte is left, which is not UTF-8.
    message = decoded(route(tmp_path, entry), orjson.dumps(answer).replace(b"!", b"\xc3"))
    assert message["content"][-1] == {"type": "text", "text": "caf\ufffd"}
    assert message["model"] == "claude-sonnet-4-6"
