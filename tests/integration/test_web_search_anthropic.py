"""Anthropic's web search server tool with an Anthropic-API target while a search backend is configured:
the provider gets the tool as the client sent it and searches itself, its blocks reach the client
unchanged through the proxy's search path (streamed and not), its searches are counted in the usage,
and the proxy's backend is never asked. With an OpenAI-compatible first target that fails, the
Anthropic-API fallback answers the same way."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.proxy_server import ProxyServer
from tests.support.sdk import sdk_client
from tests.support.search_backend import answering, search_config

SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 1000,
    "messages": [{"role": "user", "content": "What is new with the proxy?"}],
    "tools": [SEARCH_TOOL],
}
UPSTREAM_MODEL = "claude-upstream-1"
USE = {"type": "server_tool_use", "id": "srvtoolu_anthropic1", "name": "web_search", "input": {"query": "proxy"}}
RESULT = {
    "type": "web_search_tool_result",
    "tool_use_id": "srvtoolu_anthropic1",
    "content": [
        {
            "type": "web_search_result",
            "url": "https://example.org/a",
            "title": "A",
            "encrypted_content": "anthropic-opaque",
            "page_age": None,
        }
    ],
}
CITATION = {
    "type": "web_search_result_location",
    "url": "https://example.org/a",
    "title": "A",
    "encrypted_index": "idx",
    "cited_text": "the proxy",
}


@pytest.fixture
def search() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    fake.script = answering("brave")
    yield fake
    fake.stop()


@pytest.fixture
def claude() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


def proxy_for(
    start_proxy: Callable[..., ProxyServer], tmp_path: Path, search: FakeUpstream, claude: FakeUpstream, route: str
) -> ProxyServer:
    providers = (
        f'\n[providers.claude]\nbase_url = "{claude.url}"\napi_key = "sk-ant-key-0123456789"\nkind = "anthropic"\n'
        f'\n[[routes]]\nmatch = "claude-*"\n{route}\n'
    )
    return start_proxy(config_file=str(search_config(tmp_path, "brave", search, extra=providers)))


def answer() -> dict[str, Any]:
    return {
        "id": "msg_a",
        "type": "message",
        "role": "assistant",
        "model": UPSTREAM_MODEL,
        "content": [USE, RESULT, {"type": "text", "text": "It searched.", "citations": [CITATION]}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 900, "output_tokens": 40, "server_tool_use": {"web_search_requests": 1}},
    }


def events() -> Reply:
    start = {**answer(), "content": [], "stop_reason": None, "usage": {"input_tokens": 900, "output_tokens": 1}}
    use_start = {**USE, "input": {}}
    pairs: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": use_start}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": '{"query": "proxy"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": RESULT}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("ping", {"type": "ping"}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": "", "citations": []}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 2, "delta": {"type": "citations_delta", "citation": CITATION}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "It searched."}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 2}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 40, "server_tool_use": {"web_search_requests": 1}},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return Reply(stream=[f"event: {name}\ndata: ".encode() + orjson.dumps(data) + b"\n\n" for name, data in pairs])


def reply(request: Any) -> Reply:
    return events() if request.json.get("stream") else Reply(json=answer())


def check(message: dict[str, Any], claude: FakeUpstream, search: FakeUpstream) -> None:
    assert [block["type"] for block in message["content"]] == ["server_tool_use", "web_search_tool_result", "text"]
    assert message["content"][0]["id"] == USE["id"] and message["content"][0]["input"] == {"query": "proxy"}
    assert message["content"][1]["content"][0]["encrypted_content"] == "anthropic-opaque"
    assert message["content"][2]["citations"][0]["cited_text"] == "the proxy"
    assert message["model"] == REQUEST["model"] and message["stop_reason"] == "end_turn"
    usage = message["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (900, 40)
    assert usage["server_tool_use"]["web_search_requests"] == 1
    sent = claude.last.json
    assert sent["tools"] == [SEARCH_TOOL] and sent["model"] == UPSTREAM_MODEL
    assert search.requests == []


@pytest.mark.parametrize("stream", [False, True])
def test_an_anthropic_api_target_gets_the_server_tool_as_sent_and_searches_itself(
    start_proxy: Callable[..., ProxyServer], search: FakeUpstream, claude: FakeUpstream, tmp_path: Path, stream: bool
) -> None:
    proxy = proxy_for(start_proxy, tmp_path, search, claude, f'provider = "claude"\nmodel = "{UPSTREAM_MODEL}"')
    claude.script = reply
    client = sdk_client(proxy.url, timeout=20)
    if stream:
        with client.messages.stream(**REQUEST) as events_seen:
            kinds = [event.type for event in events_seen]
            message = events_seen.get_final_message().model_dump()
        assert kinds.count("message_start") == 1 and kinds.count("message_delta") == 1
    else:
        message = client.messages.create(**REQUEST).model_dump()
    check(message, claude, search)


def test_an_anthropic_api_fallback_of_a_searching_route_searches_itself(
    start_proxy: Callable[..., ProxyServer],
    upstream: FakeUpstream,
    search: FakeUpstream,
    claude: FakeUpstream,
    tmp_path: Path,
) -> None:
    """The first target (OpenAI-compatible, offered the proxy's search function) fails; the fallback is
    an Anthropic-API provider, which gets the client's server tool."""
    route = f'provider = "default"\nmodel = "gpt-x"\nfallbacks = ["claude/{UPSTREAM_MODEL}"]'
    proxy = proxy_for(start_proxy, tmp_path, search, claude, route)
    upstream.script = lambda request: Reply(status=503, json={"error": {"message": "down"}})
    claude.script = reply
    message = sdk_client(proxy.url, timeout=20).messages.create(**REQUEST).model_dump()
    check(message, claude, search)
    assert upstream.last.json["tools"][0]["function"]["name"] == "web_search"
