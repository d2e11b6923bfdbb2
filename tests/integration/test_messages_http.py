"""Non-streaming /v1/messages over real HTTP: the anthropic SDK -> proxy (uvicorn) -> fake upstream."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.conftest import UPSTREAM_KEY
from tests.support.fake_upstream import FakeUpstream, Reply, completion
from tests.support.proxy_server import ProxyServer
from tests.support.sdk import sdk_client

FIXTURES = Path(__file__).parent.parent / "fixtures"


def client(proxy: ProxyServer, **kwargs: object) -> anthropic.Anthropic:
    return sdk_client(proxy.url, **kwargs)


def test_text_reply_reaches_the_sdk_with_the_requested_model_echoed(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    upstream.queue(Reply(json=completion("Hi from upstream", usage={"prompt_tokens": 12, "completion_tokens": 4})))
    message = client(proxy).messages.create(
        model="claude-sonnet-4-6",
        max_tokens=200,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello"}],
    )
    assert message.content[0].type == "text" and message.content[0].text == "Hi from upstream"
    assert message.model == "claude-sonnet-4-6"
    assert message.id.startswith("msg_")
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 4)
    sent = upstream.last
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent.json == {
        "model": "big-model",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
        "max_tokens": 200,
    }


@pytest.mark.parametrize(
    ("requested", "upstream_model"),
    [
        ("claude-haiku-4-5-20251001", "small-model"),
        ("claude-3-5-haiku-latest", "small-model"),
        ("claude-opus-5-5", "big-model"),
        ("claude-opus-4-7", "big-model"),
        ("claude-sonnet-7", "middle-model"),
        ("gpt-4o-mini", "gpt-4o-mini"),
    ],
)
def test_models_map_by_family_and_other_names_pass_through(
    start_proxy: object, upstream: FakeUpstream, requested: str, upstream_model: str
) -> None:
    proxy = start_proxy(middle_model="middle-model")  # type: ignore[operator]
    response = httpx.post(
        f"{proxy.url}/v1/messages",
        json={"model": requested, "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 200, response.text
    assert upstream.last.json["model"] == upstream_model
    assert response.json()["model"] == requested


def test_tool_use_round_trip_through_the_sdk(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    tools = [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ]
    call = {"id": "call_w1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    upstream.queue(
        Reply(json=completion(None, tool_calls=[call], finish_reason="tool_calls")),
        Reply(json=completion("It is sunny in Oslo.")),
    )
    sdk = client(proxy)
    first = sdk.messages.create(
        model="claude-sonnet-4-6", max_tokens=100, tools=tools, messages=[{"role": "user", "content": "Weather?"}]
    )
    assert first.stop_reason == "tool_use"
    tool_use = first.content[0]
    assert tool_use.type == "tool_use" and tool_use.name == "get_weather" and tool_use.input == {"city": "Oslo"}
    second = sdk.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=100,
        tools=tools,
        messages=[
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": [block.model_dump() for block in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "sunny"}]},
        ],
    )
    assert second.content[0].type == "text" and second.content[0].text == "It is sunny in Oslo."
    messages = upstream.last.json["messages"]
    assert messages[1]["tool_calls"][0]["id"] == "call_w1"
    assert messages[2] == {"role": "tool", "tool_call_id": "call_w1", "content": "sunny"}


def test_beta_query_beta_headers_and_unknown_fields_are_accepted(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    message = client(proxy).beta.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=50,
        messages=[{"role": "user", "content": "x"}],
        betas=["interleaved-thinking-2025-05-14", "context-management-2025-06-27"],
        extra_body={"some_future_field": {"nested": True}, "container": None},
    )
    assert message.content[0].type == "text"
    assert upstream.last.query == ""
    assert "some_future_field" not in upstream.last.json


def test_gzip_request_body_and_compressing_clients_get_a_plain_json_answer(
    proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    body = gzip.compress(
        json.dumps(
            {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
        ).encode()
    )
    response = httpx.post(
        f"{proxy.url}/v1/messages?beta=true",
        content=body,
        headers={
            "content-type": "application/json",
            "content-encoding": "gzip",
            "accept-encoding": "gzip, deflate, br, zstd",
            "anthropic-version": "2023-06-01",
        },
    )
    assert response.status_code == 200
    assert response.json()["content"][0]["text"] == "Hello!"


def test_claude_code_request_of_50_kb_is_translated(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    raw = (FIXTURES / "claude_code" / "main_first_request.json").read_bytes()
    assert len(raw) > 45_000
    body = json.loads(raw)
    body["stream"] = False
    response = httpx.post(
        f"{proxy.url}/v1/messages?beta=true",
        json=body,
        headers={"anthropic-beta": "claude-code-20250219,context-management-2025-06-27", "x-api-key": "k"},
    )
    assert response.status_code == 200, response.text
    sent = upstream.last.json
    assert sent["model"] == "big-model"
    assert sent["max_tokens"] == 16_384
    assert [m["role"] for m in sent["messages"][:3]] == ["system", "user", "system"]
    assert "DeferredToolPlaceholder" not in {t["function"]["name"] for t in sent["tools"]}


def test_upstream_without_usage_still_reports_usage_numbers(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    no_usage = completion("twelve characters")
    del no_usage["usage"]
    upstream.queue(Reply(json=no_usage))
    message = client(proxy).messages.create(
        model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "count me " * 40}]
    )
    assert message.usage.input_tokens > 50
    assert message.usage.output_tokens > 0


def test_health_endpoints_answer(proxy: ProxyServer) -> None:
    for path in ("/", "/health"):
        response = httpx.get(proxy.url + path)
        assert response.status_code == 200
        assert response.json()["status"] == "ok"


def test_one_log_line_per_request_names_route_status_and_tokens(
    start_proxy: object, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    proxy = start_proxy(log_level="DEBUG")  # type: ignore[operator]
    upstream.queue(Reply(json=completion("ok", usage={"prompt_tokens": 30, "completion_tokens": 2})))
    response = httpx.post(
        f"{proxy.url}/v1/messages",
        json={"model": "claude-opus-4-7", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
    )
    request_id = response.headers["request-id"]
    lines = [
        r.getMessage() for r in caplog.records if r.name == "provider_proxy.request" and request_id in r.getMessage()
    ]
    access = [line for line in lines if "POST /v1/messages" in line]
    assert len(access) == 1
    assert "claude-opus-4-7 -> default/big-model 200" in access[0]
    assert "in=30 out=2" in access[0]
    debug = [line for line in lines if "upstream request" in line]
    assert debug and '"model":"big-model"' in debug[0]
    assert UPSTREAM_KEY not in caplog.text
