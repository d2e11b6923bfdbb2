from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import msgspec
import pytest

from provider_proxy.config.proxy_config import build_config
from provider_proxy.models.anthropic import CountTokensRequest
from provider_proxy.services.routing import Router
from provider_proxy.services.token_counting import TokenCounter
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy_server import ProxyServer
from tests.support.sdk import sdk_client

MODEL = "claude-sonnet-4-6"
BODY: dict[str, Any] = {
    "model": MODEL,
    "system": [{"type": "text", "text": "You are a careful engineer."}],
    "tools": [
        {
            "name": "Read",
            "description": "Read a file.",
            "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
        }
    ],
    "messages": [
        {"role": "user", "content": "Show me setup.py"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"path": "s.py"}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "import os\nos.sep"}],
        },
    ],
}


def _expected(proxy: ProxyServer) -> int:
    route = Router(build_config(proxy.settings)).resolve(MODEL)
    return TokenCounter().count_request(msgspec.convert(BODY, CountTokensRequest), route)


@pytest.mark.parametrize("upstream_model", ["gpt-4o", "big-model"])
def test_sdk_count_tokens_answers_locally(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, upstream_model: str
) -> None:
    proxy = start_proxy(big_model=upstream_model)
    client = sdk_client(proxy.url)
    result = client.messages.count_tokens(
        model=MODEL, system=BODY["system"], tools=BODY["tools"], messages=BODY["messages"]
    )
    assert result.input_tokens == _expected(proxy)
    assert result.input_tokens > 40
    assert upstream.requests == []


def test_count_tokens_plain_http_body(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    response = httpx.post(f"{proxy.url}/v1/messages/count_tokens", json=BODY, timeout=10)
    assert response.status_code == 200
    assert response.json() == {"input_tokens": _expected(proxy)}
    assert upstream.requests == []


@pytest.mark.parametrize(
    "body",
    [
        {"model": MODEL},
        {"model": MODEL, "messages": "not a list"},
        {"model": MODEL, "messages": []},
        {"messages": [{"role": "user", "content": "hi"}]},
    ],
)
def test_bad_bodies_get_an_anthropic_400(proxy: ProxyServer, upstream: FakeUpstream, body: dict[str, Any]) -> None:
    response = httpx.post(f"{proxy.url}/v1/messages/count_tokens", json=body, timeout=10)
    assert response.status_code == 400
    payload = response.json()
    assert payload["type"] == "error"
    assert payload["error"]["type"] == "invalid_request_error"
    assert upstream.requests == []


def test_sdk_sees_a_bad_request_error(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    client = sdk_client(proxy.url)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.count_tokens(model=MODEL, messages=[{"role": "robot", "content": "hi"}])  # type: ignore[misc,list-item]
    assert upstream.requests == []
