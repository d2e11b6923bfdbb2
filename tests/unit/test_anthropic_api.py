"""The Anthropic-API upstream kind without the network: which profile an address gets, what the body and
headers become, and the stream relay split at every byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from provider_proxy.config.proxy_config import build_config
from provider_proxy.config.settings import load_settings
from provider_proxy.conversion.anthropic_api import messages_url, prepare_body
from provider_proxy.conversion.anthropic_stream import AnthropicRelay
from provider_proxy.conversion.apis import upstream_api
from provider_proxy.conversion.upstream_api import ClientRequest
from provider_proxy.models.anthropic import MessagesRequest
from provider_proxy.providers.profiles import detect_profile
from provider_proxy.services.routing import Router
from provider_proxy.utils.sse import SSEDecoder


@pytest.mark.parametrize(
    ("base_url", "kind", "profile"),
    [
        ("https://api.anthropic.com/v1", None, "anthropic"),
        ("https://api.anthropic.com", "anthropic", "anthropic"),
        ("https://api.deepseek.com/anthropic", None, "deepseek-anthropic"),
        ("https://api.deepseek.com/anthropic", "anthropic", "deepseek-anthropic"),
        ("https://api.deepseek.com/v1", None, "deepseek"),
        ("https://api.moonshot.ai/anthropic", None, "moonshot-anthropic"),
        ("https://api.z.ai/api/anthropic", None, "zai-anthropic"),
        ("https://openrouter.ai/api", "anthropic", "openrouter-anthropic"),
        ("https://openrouter.ai/api/v1", None, "openrouter"),
        ("https://gateway.example.com/v1", "anthropic", "anthropic"),
    ],
)
def test_an_address_gets_the_profile_of_the_api_it_serves(
    tmp_path: Path, base_url: str, kind: str | None, profile: str
) -> None:
    kind_line = f'kind = "{kind}"\n' if kind else ""
    (tmp_path / "proxy.toml").write_text(f'[providers.p]\nbase_url = "{base_url}"\n{kind_line}')
    config = build_config(load_settings(env_file=None, config_file=tmp_path / "proxy.toml"))
    assert config.providers["p"].profile.kind == profile
    if kind is None:
        assert detect_profile(base_url) == profile


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("https://api.anthropic.com/v1", "https://api.anthropic.com/v1/messages"),
        ("https://api.deepseek.com/anthropic", "https://api.deepseek.com/anthropic/v1/messages"),
    ],
)
def test_the_messages_url_takes_a_base_with_or_without_v1(tmp_path: Path, base_url: str, url: str) -> None:
    (tmp_path / "proxy.toml").write_text(f'[providers.p]\nbase_url = "{base_url}"\nkind = "anthropic"\n')
    provider = build_config(load_settings(env_file=None, config_file=tmp_path / "proxy.toml")).providers["p"]
    assert messages_url(provider) == url == upstream_api(provider).url(provider, "m")
    assert provider.models_url == url.removesuffix("/messages") + "/models"


def route(tmp_path: Path, profile: str = "", entry: str = "") -> Any:
    (tmp_path / "proxy.toml").write_text(
        '[providers.p]\nbase_url = "https://api.anthropic.com/v1"\napi_key = "sk-ant-0123456789"\n'
        + (f"[providers.p.profile]\n{profile}\n" if profile else "")
        + f'[[routes]]\nmatch = "claude-*"\nprovider = "p"\nmodel = "claude-upstream"\n{entry}\n'
    )
    config = build_config(load_settings(env_file=None, config_file=tmp_path / "proxy.toml"))
    return Router(config).resolve("claude-sonnet-4-6")


def prepared(body: dict[str, Any], target: Any, betas: str = "") -> dict[str, Any]:
    raw = orjson.dumps(body)
    call = prepare_body(ClientRequest(msgspec.json.decode(raw, type=MessagesRequest), raw, betas), target)
    return dict(orjson.loads(call.body))


def test_the_route_s_output_limit_and_overrides_apply_and_thinking_keeps_fitting(tmp_path: Path) -> None:
    target = route(tmp_path, entry="max_tokens = 4000\ntemperature = 0.2")
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 32000,
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "messages": [{"role": "user", "content": "Hi"}],
    }
    sent = prepared(body, target)
    assert sent["model"] == "claude-upstream"
    assert (sent["max_tokens"], sent["temperature"]) == (4000, 0.2)
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 3999}


def test_a_request_within_the_limits_passes_byte_for_byte_but_the_model(tmp_path: Path) -> None:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}], "x": [1]}
    assert prepared(body, route(tmp_path)) == {**body, "model": "claude-upstream"}


def test_betas_outside_the_profile_s_patterns_are_noted_and_left_out(tmp_path: Path) -> None:
    target = route(tmp_path, profile='betas = ["context-*"]')
    raw = orjson.dumps({"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]})
    request = ClientRequest(
        msgspec.json.decode(raw, type=MessagesRequest), raw, "oauth-2025-04-20, context-1m-2025-08-07"
    )
    call = prepare_body(request, target)
    assert call.headers == (("anthropic-beta", "context-1m-2025-08-07"),)
    assert call.notes == ("left out anthropic-beta oauth-2025-04-20: not for this provider",)


def stream_bytes() -> bytes:
    def frame(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\r\ndata: ".encode() + orjson.dumps(data) + b"\r\n\r\n"

    start = {"id": "msg_1", "type": "message", "role": "assistant", "model": "up", "content": []}
    start["usage"] = {"input_tokens": 12, "output_tokens": 1, "cache_read_input_tokens": 5}
    return b"".join(
        [
            frame("message_start", {"type": "message_start", "message": start}),
            b": keep-alive\n\n",
            frame(
                "content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}
            ),
            frame("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"text": "h\u00e9llo"}}),
            frame("content_block_stop", {"type": "content_block_stop", "index": 0}),
            frame(
                "message_delta",
                {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
            ),
            frame("message_stop", {"type": "message_stop"}),
        ]
    )


def relayed(pieces: list[bytes]) -> tuple[list[tuple[str, Any]], AnthropicRelay]:
    relay = AnthropicRelay("claude-sonnet-4-6")
    out = relay.begin()
    for piece in pieces:
        out += relay.relay(piece)
    out += relay.relay(b"")
    return [(sse.event, orjson.loads(sse.data)) for sse in SSEDecoder().feed(out)], relay


def test_the_relay_gives_the_same_events_however_the_bytes_are_split() -> None:
    raw = stream_bytes()
    whole, relay = relayed([raw])
    assert [name for name, _ in whole] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert whole[0][1]["message"]["model"] == "claude-sonnet-4-6"
    assert relay.usage == {
        "input_tokens": 12,
        "output_tokens": 9,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 5,
    }
    assert relay.stop_reason == "end_turn" and relay.done and relay.error_type is None
    for cut in range(1, len(raw)):
        assert relayed([raw[:cut], raw[cut:]])[0] == whole, cut
