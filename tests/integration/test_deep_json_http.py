"""Valid but pathologically nested JSON from a client is its error (a 400 naming the limit), never the
proxy's internal 500, wherever the nesting sits and whichever step meets it first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from provider_proxy.errors import JSON_DEPTH_LIMIT
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy_server import ProxyServer

# Decoded fine, but deeper than orjson writes (254); and deeper than msgspec or Python recursion reach.
DEPTHS = [300, 20_000]


def nested_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth // 2):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


def nested_list(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def with_tool_schema(depth: int) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"name": "Deep", "input_schema": nested_schema(depth)}],
    }


def with_tool_use_input(depth: int) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "Deep", "input": {"a": nested_list(depth)}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
        ],
        "tools": [{"name": "Deep", "input_schema": {"type": "object"}}],
    }


def with_unknown_block(depth: int) -> dict[str, Any]:
    """An unknown block type takes the lenient decoding path (orjson, then msgspec.convert)."""
    body = with_tool_use_input(depth)
    body["messages"][0]["content"] = [{"type": "text", "text": "hi"}, {"type": "future_block", "data": nested_list(8)}]
    return body


def assert_too_deep(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "nested too deeply" in error["message"]
    assert str(JSON_DEPTH_LIMIT) in error["message"]


def post(proxy: ProxyServer, body: dict[str, Any], path: str = "/v1/messages") -> httpx.Response:
    # The standard json module refuses to write such depths; the bytes are built by hand where needed.
    try:
        content = orjson.dumps(body)
    except TypeError:
        content = _dumps(body).encode()
    return httpx.post(f"{proxy.url}{path}", content=content, headers={"content-type": "application/json"}, timeout=30)


def _dumps(value: Any) -> str:
    """JSON text of any depth, without recursion."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            out.append(item.text)
        elif isinstance(item, dict):
            stack.append(_Raw("}"))
            for position, (key, sub) in enumerate(reversed(list(item.items()))):
                stack.append(sub)
                stack.append(_Raw(f'"{key}":'))
                if position < len(item) - 1:
                    stack.append(_Raw(","))
            stack.append(_Raw("{"))
        elif isinstance(item, list):
            stack.append(_Raw("]"))
            for position, sub in enumerate(reversed(item)):
                stack.append(sub)
                if position < len(item) - 1:
                    stack.append(_Raw(","))
            stack.append(_Raw("["))
        elif isinstance(item, str):
            out.append(f'"{item}"')
        elif item is True or item is False:
            out.append("true" if item else "false")
        else:
            out.append(str(item))
    return "".join(out)


class _Raw:
    def __init__(self, text: str) -> None:
        self.text = text


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("build", [with_tool_schema, with_tool_use_input, with_unknown_block])
def test_deep_client_json_is_a_400_naming_the_limit(
    proxy: ProxyServer, upstream: FakeUpstream, build: Callable[[int], dict[str, Any]], depth: int
) -> None:
    assert_too_deep(post(proxy, build(depth)))
    assert upstream.requests == []


@pytest.mark.parametrize("depth", DEPTHS)
def test_deep_client_json_is_a_400_when_counting_tokens(proxy: ProxyServer, depth: int) -> None:
    body = with_tool_schema(depth)
    del body["max_tokens"]
    assert_too_deep(post(proxy, body, "/v1/messages/count_tokens"))


@pytest.mark.parametrize("depth", [300, 900, 960, 1_500])
def test_deep_tool_schema_for_gemini_is_a_400(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, depth: int
) -> None:
    # `items` chains: one level of recursion in the Gemini schema cleaner per level of nesting.
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "array", "items": schema}
    body = {
        **with_tool_schema(0),
        "tools": [{"name": "Deep", "input_schema": {"type": "object", "properties": {"x": schema}}}],
    }
    proxy = start_proxy(provider_kind="gemini")
    assert_too_deep(post(proxy, body))
    assert upstream.requests == []


def test_deep_tool_schema_under_a_long_context_scenario_is_a_400(
    start_proxy: Callable[..., ProxyServer], tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[scenarios.long_context]\ntarget = "default/long-model"\nthreshold = 10\n')
    proxy = start_proxy(config_file=str(config))
    assert_too_deep(post(proxy, with_tool_schema(300)))


def test_json_nested_within_the_limit_passes(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    response = post(proxy, with_tool_schema(100))
    assert response.status_code == 200, response.text
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("depth", [300, 1_500, 20_000])
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_deep_client_json_is_a_400_for_an_anthropic_api_provider(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, tmp_path: Path, depth: int, path: str
) -> None:
    """The request passes through untranslated, so its depth is met where the raw body is parsed or written."""
    toml = tmp_path / "proxy.toml"
    toml.write_text(
        f'[providers.a]\nbase_url = "{upstream.url}"\nkind = "anthropic"\n[[routes]]\nmatch = "*"\nprovider = "a"\n'
    )
    body = with_tool_use_input(depth)
    if path.endswith("count_tokens"):
        del body["max_tokens"]
    assert_too_deep(post(start_proxy(config_file=toml), body, path))
    assert upstream.requests == []
