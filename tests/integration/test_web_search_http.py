"""Anthropic's web search server tool run by the proxy, over real HTTP: the proxy in uvicorn, a fake
OpenAI-compatible upstream whose model calls the search function, a fake search backend speaking
Brave's, Tavily's or SearXNG's JSON, and the anthropic SDK as the client (its stream accumulator
rebuilds the same message the non-streaming path returns)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from provider_proxy.conversion.server_tools import decode_snippet
from provider_proxy.utils.sse import SSEDecoder
from tests.support import responses_api as api
from tests.support.fake_upstream import FakeUpstream, Recorded, Reply, completion, sse
from tests.support.proxy_server import ProxyServer
from tests.support.sdk import sdk_client
from tests.support.search_backend import PAGES, answering, search_config

SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search", "max_uses": 8}
QUESTION = {"role": "user", "content": "Perform a web search for the query: proxy news"}
REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 1000,
    "messages": [QUESTION],
    "tools": [SEARCH_TOOL],
}
FINAL = "The proxy ran the search; see example.org."


@pytest.fixture
def search() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


def searching_proxy(
    start_proxy: Callable[..., ProxyServer], tmp_path: Path, search: FakeUpstream, backend: str = "brave"
) -> ProxyServer:
    search.script = answering(backend)
    return start_proxy(config_file=str(search_config(tmp_path, backend, search)))


def call(call_id: str, query: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "web_search", "arguments": json.dumps({"query": query})},
    }


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def streamed_call(call_id: str, query: str) -> Reply:
    arguments = json.dumps({"query": query})
    first = {"index": 0, "id": call_id, "type": "function", "function": {"name": "web_search", "arguments": ""}}
    pieces = [
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[i : i + 5]}}]})
        for i in range(0, len(arguments), 5)
    ]
    usage = {"id": "c", "choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 9}}
    return Reply(
        stream=sse(
            chunk({"role": "assistant", "content": "Searching. "}),
            chunk({"tool_calls": [first]}),
            *pieces,
            chunk({}, "tool_calls"),
            usage,
        )
    )


def streamed_text(text: str) -> Reply:
    usage = {"id": "c", "choices": [], "usage": {"prompt_tokens": 80, "completion_tokens": 12}}
    return Reply(
        stream=sse(*(chunk({"content": text[i : i + 6]}) for i in range(0, len(text), 6)), chunk({}, "stop"), usage)
    )


def has_tool_result(request: Recorded) -> bool:
    return any(message["role"] == "tool" for message in request.json["messages"])


def search_then_answer(request: Recorded) -> Reply:
    """The model: search first, answer once it has results."""
    stream = request.json.get("stream", False)
    if has_tool_result(request):
        return (
            streamed_text(FINAL)
            if stream
            else Reply(json=completion(FINAL, usage={"prompt_tokens": 80, "completion_tokens": 12}))
        )
    if stream:
        return streamed_call("call_s1", "proxy news")
    return Reply(
        json=completion(
            "Searching. ",
            tool_calls=[call("call_s1", "proxy news")],
            finish_reason="tool_calls",
            usage={"prompt_tokens": 50, "completion_tokens": 9},
        )
    )


def check_answer(message: dict[str, Any]) -> None:
    kinds = [block["type"] for block in message["content"]]
    assert kinds == ["text", "server_tool_use", "web_search_tool_result", "text"], kinds
    use, result = message["content"][1], message["content"][2]
    assert use["id"].startswith("srvtoolu_") and use["name"] == "web_search" and use["input"] == {"query": "proxy news"}
    assert result["tool_use_id"] == use["id"]
    assert [(r["type"], r["url"], r["title"]) for r in result["content"]] == [
        ("web_search_result", page.url, page.title) for page in PAGES
    ]
    assert result["content"][0]["page_age"] == "2 days ago"
    assert decode_snippet(result["content"][0]["encrypted_content"]) == PAGES[0].snippet
    assert message["content"][3]["text"] == FINAL
    assert message["stop_reason"] == "end_turn"
    usage = message["usage"]
    assert usage["server_tool_use"]["web_search_requests"] == 1
    assert (usage["input_tokens"], usage["output_tokens"]) == (130, 21)


def check_rounds(upstream: FakeUpstream, search: FakeUpstream) -> None:
    first, second = (request.json for request in upstream.requests)
    offered = {tool["function"]["name"]: tool["function"] for tool in first["tools"]}
    assert offered["web_search"]["parameters"]["required"] == ["query"]
    assistant = [m for m in second["messages"] if m["role"] == "assistant"][-1]
    call_id = assistant["tool_calls"][0]["id"]
    assert call_id.startswith("srvtoolu_") and assistant["tool_calls"][0]["function"]["name"] == "web_search"
    tool = [m for m in second["messages"] if m["role"] == "tool"][-1]
    assert tool["tool_call_id"] == call_id
    assert PAGES[0].url in tool["content"] and PAGES[0].snippet in tool["content"]
    assert len(search.requests) == 1


@pytest.mark.parametrize("backend", ["brave", "tavily", "searxng"])
def test_a_search_call_runs_on_the_backend_and_answers_in_anthropic_blocks(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, search: FakeUpstream, tmp_path: Path, backend: str
) -> None:
    proxy = searching_proxy(start_proxy, tmp_path, search, backend)
    upstream.script = search_then_answer
    message = sdk_client(proxy.url, timeout=20).messages.create(**REQUEST)
    check_answer(message.model_dump())
    check_rounds(upstream, search)
    sent = search.last
    if backend == "brave":
        assert sent.method == "GET" and sent.headers["X-Subscription-Token"] == "search-key-0123456789abcdef"
        assert "q=proxy+news" in sent.raw_path and "count=5" in sent.raw_path
    elif backend == "tavily":
        assert sent.method == "POST" and sent.headers["Authorization"] == "Bearer search-key-0123456789abcdef"
        assert sent.json["query"] == "proxy news" and sent.json["max_results"] == 5
    else:
        assert sent.path == "/search" and "format=json" in sent.raw_path and "q=proxy+news" in sent.raw_path


def test_a_streamed_answer_with_a_search_is_one_message_the_sdk_rebuilds(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, search: FakeUpstream, tmp_path: Path
) -> None:
    proxy = searching_proxy(start_proxy, tmp_path, search, "tavily")
    upstream.script = search_then_answer
    with sdk_client(proxy.url, timeout=20).messages.stream(**REQUEST) as stream:
        events = list(stream)
        message = stream.get_final_message()
    check_answer(message.model_dump())
    check_rounds(upstream, search)
    kinds = [event.type for event in events]
    assert kinds.count("message_start") == 1 and kinds.count("message_stop") == 1
    starts = [event.index for event in events if event.type == "content_block_start"]
    assert starts == [0, 1, 2, 3]


def test_a_forced_search_is_forced_in_the_first_round_only(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, search: FakeUpstream, tmp_path: Path
) -> None:
    proxy = searching_proxy(start_proxy, tmp_path, search)
    upstream.script = search_then_answer
    forced = {**REQUEST, "tool_choice": {"type": "tool", "name": "web_search"}}
    sdk_client(proxy.url, timeout=20).messages.create(**forced)
    first, second = (request.json for request in upstream.requests)
    assert first["tool_choice"] == {"type": "function", "function": {"name": "web_search"}}
    assert second["tool_choice"] == "auto"


@pytest.mark.parametrize(("status", "code"), [(429, "too_many_requests"), (500, "unavailable"), (401, "unavailable")])
def test_a_backend_failure_is_a_result_error_and_the_model_still_answers(
    start_proxy: Callable[..., ProxyServer],
    upstream: FakeUpstream,
    search: FakeUpstream,
    tmp_path: Path,
    status: int,
    code: str,
) -> None:
    proxy = searching_proxy(start_proxy, tmp_path, search)
    search.script = lambda request: Reply(status=status, json={"error": "search-key-0123456789abcdef is bad"})
    upstream.script = search_then_answer
    message = sdk_client(proxy.url, timeout=20).messages.create(**REQUEST).model_dump()
    result = message["content"][2]
    assert result["content"] == {"type": "web_search_tool_result_error", "error_code": code}
    assert message["content"][3]["text"] == FINAL
    tool = [m for m in upstream.last.json["messages"] if m["role"] == "tool"][-1]
    assert code in tool["content"] and "search-key" not in tool["content"]


def test_a_backend_that_does_not_answer_in_time_is_unavailable(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, search: FakeUpstream, tmp_path: Path
) -> None:
    path = search_config(tmp_path, "brave", search)
    path.write_text(path.read_text().replace("timeout = 5", "timeout = 0.3"))
    proxy = start_proxy(config_file=str(path))
    search.script = lambda request: Reply(json={}, delay=2.0)
    upstream.script = search_then_answer
    with sdk_client(proxy.url, timeout=20).messages.stream(**REQUEST) as stream:
        message = stream.get_final_message().model_dump()
    assert message["content"][2]["content"] == {"type": "web_search_tool_result_error", "error_code": "unavailable"}
    assert message["content"][3]["text"] == FINAL


def always_search(request: Recorded) -> Reply:
    """A model that never stops searching (even when the search function is no longer offered)."""
    return Reply(
        json=completion(None, tool_calls=[call(f"call_{len(request.body)}", "again")], finish_reason="tool_calls")
    )


def test_max_uses_bounds_the_searches_and_the_rounds(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, search: FakeUpstream, tmp_path: Path
) -> None:
    proxy = searching_proxy(start_proxy, tmp_path, search)
    upstream.script = always_search
    limited = {**REQUEST, "tools": [{**SEARCH_TOOL, "max_uses": 2}]}
    message = sdk_client(proxy.url, timeout=20).messages.create(**limited).model_dump()
    assert len(search.requests) == 2
    assert len(upstream.requests) == 4  # max_uses + 2 rounds
    results = [block["content"] for block in message["content"] if block["type"] == "web_search_tool_result"]
    assert [r if isinstance(r, dict) else "ok" for r in results] == [
        "ok",
        "ok",
        {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"},
        {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"},
    ]
    assert message["stop_reason"] == "pause_turn"
    assert message["usage"]["server_tool_use"]["web_search_requests"] == 2
    offered = [[t["function"]["name"] for t in r.json.get("tools", [])] for r in upstream.requests]
    assert offered == [["web_search"], ["web_search"], [], []]


def test_a_query_that_is_missing_or_too_long_is_not_searched(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, search: FakeUpstream, tmp_path: Path
) -> None:
    proxy = searching_proxy(start_proxy, tmp_path, search)
    bad = [
        {"id": "call_a", "type": "function", "function": {"name": "web_search", "arguments": "{}"}},
        call("call_b", "x" * 401),
    ]
    upstream.queue(Reply(json=completion(None, tool_calls=bad, finish_reason="tool_calls")))
    upstream.script = lambda request: Reply(json=completion(FINAL))
    message = sdk_client(proxy.url, timeout=20).messages.create(**REQUEST).model_dump()
    errors = [
        block["content"]["error_code"] for block in message["content"] if block["type"] == "web_search_tool_result"
    ]
    assert errors == ["invalid_tool_input", "query_too_long"]
    assert search.requests == []


def test_the_answer_sent_back_as_history_reaches_the_upstream_as_a_call_and_its_result(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, search: FakeUpstream, tmp_path: Path
) -> None:
    proxy = searching_proxy(start_proxy, tmp_path, search)
    upstream.script = search_then_answer
    client = sdk_client(proxy.url, timeout=20)
    first = client.messages.create(**REQUEST).model_dump(exclude_none=True)
    upstream.requests.clear()
    upstream.script = lambda request: Reply(json=completion("It was example.org."))
    follow_up = [
        QUESTION,
        {"role": "assistant", "content": first["content"]},
        {"role": "user", "content": "Which site?"},
    ]
    client.messages.create(**{**REQUEST, "messages": follow_up})
    messages = upstream.last.json["messages"]
    roles = [m["role"] for m in messages]
    assert roles == ["user", "assistant", "tool", "assistant", "user"], roles
    assert messages[1]["content"] == "Searching. " and messages[1]["tool_calls"][0]["id"] == first["content"][1]["id"]
    assert PAGES[1].snippet in messages[2]["content"]
    assert messages[3]["content"] == FINAL and messages[4]["content"] == "Which site?"
    assert len(search.requests) == 1  # history is not searched again


def test_without_a_backend_the_tool_is_left_out_and_history_becomes_text(
    proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    history = [
        QUESTION,
        {
            "role": "assistant",
            "content": [
                {
                    "type": "server_tool_use",
                    "id": "srvtoolu_01",
                    "name": "web_search",
                    "input": {"query": "proxy news"},
                },
                {
                    "type": "web_search_tool_result",
                    "tool_use_id": "srvtoolu_01",
                    "content": [
                        {
                            "type": "web_search_result",
                            "url": PAGES[0].url,
                            "title": PAGES[0].title,
                            "encrypted_content": "EqAnthropicBlob",
                            "page_age": None,
                        }
                    ],
                },
                {"type": "text", "text": "Found it."},
            ],
        },
        {"role": "user", "content": "Thanks"},
    ]
    upstream.script = lambda request: Reply(json=completion("You're welcome."))
    message = sdk_client(proxy.url, timeout=20).messages.create(**{**REQUEST, "messages": history})
    assert message.content[0].type == "text"
    sent = upstream.last.json
    assert "tools" not in sent
    assistant = sent["messages"][1]
    assert assistant["role"] == "assistant" and "tool_calls" not in assistant
    assert 'Web search results for "proxy news"' in assistant["content"] and PAGES[0].url in assistant["content"]
    assert assistant["content"].endswith("Found it.")


def test_the_search_key_is_redacted_from_the_log(
    start_proxy: Callable[..., ProxyServer],
    upstream: FakeUpstream,
    search: FakeUpstream,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy = searching_proxy(start_proxy, tmp_path, search)
    search.script = lambda request: Reply(status=403, body=b"key search-key-0123456789abcdef is not allowed")
    upstream.script = search_then_answer
    client: anthropic.Anthropic = sdk_client(proxy.url, timeout=20)
    with caplog.at_level("WARNING", logger="provider_proxy"):
        client.messages.create(**REQUEST)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "web search backend brave failed (unavailable): HTTP 403" in logged
    assert "search-key-0123456789abcdef" not in logged


def test_a_failure_of_the_next_round_ends_the_stream_with_an_error_event(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, search: FakeUpstream, tmp_path: Path
) -> None:
    proxy = searching_proxy(start_proxy, tmp_path, search)
    upstream.queue(streamed_call("call_s1", "proxy news"), Reply(status=400, json={"error": {"message": "bad turn"}}))
    response = httpx.post(f"{proxy.url}/v1/messages", json={**REQUEST, "stream": True}, timeout=20)
    decoder = SSEDecoder()
    events = [orjson.loads(event.data) for event in decoder.feed(response.content) + decoder.close()]
    kinds = [event["type"] for event in events]
    assert kinds[0] == "message_start" and kinds[-1] == "error" and "message_stop" not in kinds
    assert events[-1]["error"]["type"] == "invalid_request_error" and "bad turn" in events[-1]["error"]["message"]
    results = [
        e
        for e in events
        if e["type"] == "content_block_start" and e["content_block"]["type"] == "web_search_tool_result"
    ]
    assert len(results) == 1 and len(search.requests) == 1


def test_requests_without_the_search_tool_take_the_usual_path(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, search: FakeUpstream, tmp_path: Path
) -> None:
    proxy = searching_proxy(start_proxy, tmp_path, search)
    upstream.script = lambda request: Reply(json=completion("plain"))
    read_only = {**REQUEST, "tools": [{"name": "Read", "input_schema": {"type": "object"}}]}
    message = sdk_client(proxy.url, timeout=20).messages.create(**read_only).model_dump()
    assert [block["type"] for block in message["content"]] == ["text"]
    assert message["usage"].get("server_tool_use") is None
    assert [t["function"]["name"] for t in upstream.last.json["tools"]] == ["Read"] and len(upstream.requests) == 1


def test_a_client_that_leaves_during_a_search_cancels_it(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, search: FakeUpstream, tmp_path: Path
) -> None:
    proxy = searching_proxy(start_proxy, tmp_path, search)
    search.script = lambda request: Reply(json={}, delay=30.0)
    upstream.script = search_then_answer
    body = orjson.dumps({**REQUEST, "stream": True})
    head = f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", proxy.port)) as client:
        client.sendall(head.encode() + body)
        search.wait_for_requests(1)
        assert len(search.requests) == 1  # the search is under way; now the client leaves
    assert search.client_gone.wait(5), "the search went on after the client left"
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_a_responses_api_provider_searches_the_same_way(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, search: FakeUpstream, tmp_path: Path, stream: bool
) -> None:
    search.script = answering("searxng")
    path = search_config(tmp_path, "searxng", search)
    path.write_text(
        path.read_text() + f'\n[providers.oa]\nbase_url = "{upstream.url}"\napi_key = "sk-oa-0123456789"\n'
        'api = "responses"\n\n[[routes]]\nmatch = "claude-*"\nprovider = "oa"\nmodel = "gpt-5"\n'
    )
    proxy = start_proxy(config_file=str(path))

    def script(request: Recorded) -> Reply:
        items = request.json["input"]
        if items[-1]["type"] == "function_call_output":
            final = api.response([api.message(FINAL)], usage_=api.usage(80, 12))
        else:
            call_item = api.function_call("call_r1", "web_search", json.dumps({"query": "proxy news"}))
            final = api.response([api.message("Searching. "), call_item], usage_=api.usage(50, 9))
        if request.json.get("stream"):
            return Reply(stream=[api.sse(api.stream_events(final))])
        return Reply(json=final)

    upstream.script = script
    client = sdk_client(proxy.url, timeout=20)
    if stream:
        with client.messages.stream(**REQUEST) as events:
            message = events.get_final_message().model_dump()
    else:
        message = client.messages.create(**REQUEST).model_dump()
    check_answer(message)
    second = upstream.last.json
    assert [tool["name"] for tool in second["tools"]] == ["web_search"]
    call_item, output = second["input"][-2:]
    assert call_item["type"] == "function_call" and call_item["call_id"].startswith("srvtoolu_")
    assert output["call_id"] == call_item["call_id"] and PAGES[0].snippet in output["output"]


@pytest.mark.parametrize("stream", [False, True])
def test_without_a_backend_an_openai_responses_provider_runs_its_own_search(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, tmp_path: Path, stream: bool
) -> None:
    path = tmp_path / "proxy.toml"
    path.write_text(
        f'[providers.oa]\nbase_url = "{upstream.url}"\napi_key = "sk-oa-0123456789"\nkind = "openai"\n'
        'api = "responses"\n\n[[routes]]\nmatch = "claude-*"\nprovider = "oa"\nmodel = "gpt-5"\n'
    )
    proxy = start_proxy(config_file=str(path))
    searched = api.web_search_call("ws_1", "proxy news", [page.url for page in PAGES])
    final = api.response([searched, api.message(FINAL)], usage_=api.usage(130, 21))
    events = api.stream_events(final, lambda text: [text[i : i + 4] for i in range(0, len(text), 4)])
    api.validate_response(final)
    api.validate_events(events)
    upstream.script = lambda request: (
        Reply(stream=[api.sse(events)]) if request.json.get("stream") else Reply(json=final)
    )
    client = sdk_client(proxy.url, timeout=20)
    limited = {**REQUEST, "tools": [{**SEARCH_TOOL, "allowed_domains": ["example.org"]}]}
    if stream:
        with client.messages.stream(**limited) as answer:
            message = answer.get_final_message().model_dump()
    else:
        message = client.messages.create(**limited).model_dump()
    assert [block["type"] for block in message["content"]] == ["server_tool_use", "web_search_tool_result", "text"]
    use, result = message["content"][:2]
    assert use["id"] == "srvtoolu_ws_1" and use["input"] == {"query": "proxy news"}
    assert [r["url"] for r in result["content"]] == [page.url for page in PAGES]
    assert message["usage"]["server_tool_use"]["web_search_requests"] == 1 and message["stop_reason"] == "end_turn"
    sent = upstream.last.json
    assert sent["tools"] == [{"type": "web_search", "filters": {"allowed_domains": ["example.org"]}}]
    assert "web_search_call.action.sources" in sent["include"] and len(upstream.requests) == 1
