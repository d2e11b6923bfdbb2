"""A provider with `api = "responses"` over real HTTP: the proxy in uvicorn, a fake Responses API
upstream, the anthropic SDK as the client (its stream accumulator as the oracle)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from provider_proxy.utils.sse import SSEDecoder
from tests.support import responses_api as api
from tests.support.fake_upstream import FakeUpstream, Reply, completion, sse
from tests.support.proxy_server import ProxyServer
from tests.support.sdk import sdk_client

MODEL = "claude-sonnet-4-6"
TOOLS: list[dict[str, Any]] = [
    {"name": "Read", "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}},
]
REQUEST: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 2000,
    "messages": [{"role": "user", "content": "What is in a.py?"}],
    "tools": TOOLS,
    "thinking": {"type": "enabled", "budget_tokens": 1024},
}
TOOL_TURN = api.response(
    [
        api.reasoning(["I should read the file."], "gAAAA-turn-1"),
        api.message("Let me look."),
        api.function_call("call_1", "Read", '{"file_path": "a.py"}'),
    ],
    usage_=api.usage(120, 40, cached=100, reasoning_tokens=10),
)


def pieces(text: str) -> list[str]:
    return [text[i : i + 3] for i in range(0, len(text), 3)]


def stream_reply(final: dict[str, Any]) -> Reply:
    raw = api.sse(api.stream_events(final, pieces))
    return Reply(stream=[raw[i : i + 97] for i in range(0, len(raw), 97)])


@pytest.fixture
def responses_proxy(start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, tmp_path: Path) -> ProxyServer:
    path = tmp_path / "proxy.toml"
    path.write_text(
        f'[providers.oa]\nbase_url = "{upstream.url}"\napi_key = "sk-responses-key-0123456789"\n'
        'kind = "openai"\napi = "responses"\n\n'
        '[[routes]]\nmatch = "claude-*"\nprovider = "oa"\nmodel = "gpt-5"\n'
    )
    return start_proxy(config_file=str(path))


def client(proxy: ProxyServer) -> anthropic.Anthropic:
    return sdk_client(proxy.url, timeout=20)


def raw_events(proxy: ProxyServer, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = httpx.post(f"{proxy.url}/v1/messages", json={**body, "stream": True}, timeout=20)
    assert response.status_code == 200, response.text
    decoder = SSEDecoder()
    return [orjson.loads(event.data) for event in decoder.feed(response.content) + decoder.close()]


def test_a_non_streaming_answer_comes_from_post_responses(responses_proxy: ProxyServer, upstream: FakeUpstream) -> None:
    upstream.queue(Reply(json=TOOL_TURN))
    message = client(responses_proxy).messages.create(**REQUEST)
    sent = upstream.last
    assert sent.path == "/v1/responses" and sent.headers["Authorization"] == "Bearer sk-responses-key-0123456789"
    body = sent.json
    assert body["model"] == "gpt-5" and body["store"] is False and "stream" not in body
    assert body["include"] == ["reasoning.encrypted_content"] and body["reasoning"]["summary"] == "auto"
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[2].input == {"file_path": "a.py"}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == (
        20,
        100,
        40,
    )


def test_a_streamed_tool_turn_accumulates_to_the_non_streaming_message(
    responses_proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(json=TOOL_TURN), stream_reply(TOOL_TURN))
    sdk = client(responses_proxy)
    whole = sdk.messages.create(**REQUEST)
    with sdk.messages.stream(**REQUEST) as stream:
        streamed = stream.get_final_message()
    assert upstream.last.json["stream"] is True
    assert streamed.model_dump(exclude={"id"}) == whole.model_dump(exclude={"id"})


def test_reasoning_is_replayed_on_the_next_turn_of_a_tool_loop(
    responses_proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    done = api.response([api.message("a.py prints 1.")])
    upstream.queue(stream_reply(TOOL_TURN), Reply(json=done))
    sdk = client(responses_proxy)
    with sdk.messages.stream(**REQUEST) as stream:
        first = stream.get_final_message()
    history = [
        *REQUEST["messages"],
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "print(1)"}]},
    ]
    second = sdk.messages.create(**{**REQUEST, "messages": history})
    assert second.content[0].text == "a.py prints 1."  # type: ignore[union-attr]
    replayed = upstream.last.json["input"]
    assert [item["type"] for item in replayed] == [
        "message",
        "reasoning",
        "message",
        "function_call",
        "function_call_output",
    ]
    assert replayed[1]["encrypted_content"] == "gAAAA-turn-1" and "id" not in replayed[1]
    assert replayed[1]["summary"] == [{"type": "summary_text", "text": "I should read the file."}]
    assert replayed[3]["call_id"] == replayed[4]["call_id"] == "call_1"
    assert replayed[4]["output"] == "print(1)"


def test_an_error_status_from_the_provider_is_anthropic_shaped(
    responses_proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    error = {"error": {"message": "Unsupported parameter: 'temperature'", "type": "invalid_request_error"}}
    upstream.queue(Reply(status=400, json=error))
    response = httpx.post(f"{responses_proxy.url}/v1/messages", json=REQUEST, timeout=20)
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "Unsupported parameter" in body["error"]["message"]


def test_a_failed_response_without_streaming_is_an_error_typed_by_its_code(
    responses_proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    failed = api.response([], status="failed", error={"code": "rate_limit_exceeded", "message": "Too many tokens"})
    upstream.queue(Reply(json=failed))
    response = httpx.post(f"{responses_proxy.url}/v1/messages", json=REQUEST, timeout=20)
    assert response.status_code == 429
    assert response.json()["error"] == {
        "type": "rate_limit_error",
        "message": "Upstream provider failed the response: Too many tokens (code rate_limit_exceeded)",
    }


@pytest.mark.parametrize(
    ("ending", "error_type"),
    [
        (
            {
                "type": "response.failed",
                "response": api.response([], status="failed", error={"code": "server_error", "message": "boom"}),
            },
            "api_error",
        ),
        ({"type": "error", "code": "rate_limit_exceeded", "message": "slow down", "param": None}, "rate_limit_error"),
    ],
)
def test_a_failure_mid_stream_ends_the_stream_with_one_error_event(
    responses_proxy: ProxyServer, upstream: FakeUpstream, ending: dict[str, Any], error_type: str
) -> None:
    events = api.stream_events(api.response([api.message("Partial answer")]), pieces)
    upstream.queue(Reply(stream=[api.sse(events[:6]), 0.3, api.sse([ending])]))
    sent = raw_events(responses_proxy, REQUEST)
    assert [e["type"] for e in sent[:3]] == ["message_start", "content_block_start", "content_block_delta"]
    assert sent[-1]["type"] == "error" and sent[-1]["error"]["type"] == error_type
    assert [e for e in sent if e["type"] in ("error", "message_stop")] == [sent[-1]]


def test_a_stream_failing_at_once_falls_back_to_a_chat_completions_provider(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, tmp_path: Path
) -> None:
    """The fallback speaks the other API: each target is translated for its own provider."""
    backup = FakeUpstream().start()
    try:
        path = tmp_path / "proxy.toml"
        path.write_text(
            f'[providers.oa]\nbase_url = "{upstream.url}"\napi = "responses"\n\n'
            f'[providers.chat]\nbase_url = "{backup.url}"\n\n'
            '[[routes]]\nmatch = "claude-*"\nprovider = "oa"\nmodel = "gpt-5"\nfallbacks = ["chat/chat-model"]\n'
        )
        proxy = start_proxy(config_file=str(path))
        failed = {
            "type": "response.failed",
            "response": api.response([], status="failed", error={"code": "server_error", "message": "down"}),
        }
        upstream.queue(Reply(stream=[api.sse([failed])]))
        choice = {"index": 0, "delta": {"content": "From the backup."}, "finish_reason": "stop"}
        backup.queue(Reply(stream=sse({"id": "c", "object": "chat.completion.chunk", "choices": [choice]})))
        with client(proxy).messages.stream(**REQUEST) as stream:
            message = stream.get_final_message()
        assert message.content[0].text == "From the backup."  # type: ignore[union-attr]
        assert upstream.last.path == "/v1/responses"
        assert backup.last.path == "/v1/chat/completions" and "messages" in backup.last.json
    finally:
        backup.stop()


def test_a_route_may_speak_the_responses_api_to_a_chat_provider(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, tmp_path: Path
) -> None:
    """`api = "responses"` on a route: that route's requests go to /responses, the provider's other
    routes keep Chat Completions, on the same provider and its connections."""
    path = tmp_path / "proxy.toml"
    path.write_text(
        f'[providers.oa]\nbase_url = "{upstream.url}"\napi_key = "sk-responses-key-0123456789"\nkind = "openai"\n\n'
        '[[routes]]\nmatch = "claude-*opus*"\nprovider = "oa"\nmodel = "gpt-5-pro"\napi = "responses"\n\n'
        '[[routes]]\nmatch = "claude-*"\nprovider = "oa"\nmodel = "gpt-4.1"\n'
    )
    proxy = start_proxy(config_file=str(path))

    def script(request: Any) -> Reply:
        if request.path.endswith("/responses"):
            return Reply(json=api.response([api.message("from responses")]))
        return Reply(json=completion("from chat"))

    upstream.script = script
    client = sdk_client(proxy.url, timeout=20)
    plain = {"max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    opus = client.messages.create(model="claude-opus-4-7", **plain)
    sonnet = client.messages.create(model="claude-sonnet-4-6", **plain)
    assert [opus.content[0].text, sonnet.content[0].text] == ["from responses", "from chat"]  # type: ignore[union-attr]
    assert [r.path for r in upstream.requests] == ["/v1/responses", "/v1/chat/completions"]


def test_api_on_a_route_to_an_anthropic_provider_is_refused_at_start(
    make_settings: Callable[..., Any], tmp_path: Path
) -> None:
    from provider_proxy.config.proxy_config import build_config
    from provider_proxy.config.settings import ConfigError

    path = tmp_path / "proxy.toml"
    path.write_text(
        '[providers.an]\nbase_url = "https://api.anthropic.com/v1"\napi_key = "sk-ant-0123456789"\n'
        'kind = "anthropic"\n\n'
        '[[routes]]\nmatch = "claude-*"\nprovider = "an"\napi = "responses"\n'
    )
    with pytest.raises(ConfigError, match=r"routes\[0\]\.api: 'responses' is an OpenAI API"):
        build_config(make_settings(config_file=str(path)))
