"""The pure parts of the web search the proxy runs: the offered function, queries, result blocks and
their snippets, domain filters, the next round's request, and server-tool history for the upstream."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from provider_proxy.conversion.request import to_openai
from provider_proxy.conversion.responses_request import to_responses
from provider_proxy.conversion.server_tools import (
    DEFAULT_MAX_USES,
    MAX_USES_CAP,
    SearchCall,
    SearchHit,
    SearchSpec,
    continued,
    decode_snippet,
    encode_snippet,
    history_for_upstream,
    offer_web_search,
    result_block,
    search_calls,
    search_query,
    search_spec,
    web_search_tool,
    within_domains,
)
from provider_proxy.models.anthropic import MessagesRequest, ServerToolUseBlock, WebSearchToolResultBlock
from tests.unit.golden import route_for

SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
READ = {"name": "Read", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}


def request(**fields: Any) -> MessagesRequest:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **fields}
    return msgspec.convert(body, MessagesRequest)


def offered(**fields: Any) -> MessagesRequest:
    base = request(tools=[SEARCH, READ], **fields)
    tool = web_search_tool(base)
    assert tool is not None
    result = offer_web_search(base, tool)
    assert result is not None
    return result


def test_the_server_tool_is_offered_as_a_function_of_the_same_name_beside_the_client_tools() -> None:
    body = to_openai(offered(), route_for({"kind": "openai", "model": "gpt-4.1"})).body
    functions = [tool["function"] for tool in body["tools"]]
    assert [f["name"] for f in functions] == ["web_search", "Read"]
    assert functions[0]["parameters"]["properties"] == {"query": {"type": "string", "description": "The search query"}}
    responses = to_responses(offered(), route_for({"kind": "openai", "model": "gpt-5"})).body
    assert [tool["name"] for tool in responses["tools"]] == ["web_search", "Read"]


def test_a_client_tool_with_the_search_name_keeps_it_and_the_server_tool_is_not_offered() -> None:
    own = {"name": "web_search", "input_schema": {"type": "object"}}
    base = request(tools=[SEARCH, own])
    tool = web_search_tool(base)
    assert tool is not None and offer_web_search(base, tool) is None


def test_max_uses_has_a_default_and_a_cap() -> None:
    unset = request(tools=[{**SEARCH, "max_uses": None}]).tools
    capped = request(tools=[{**SEARCH, "max_uses": 500, "allowed_domains": ["a.org"]}]).tools
    assert unset is not None and capped is not None
    assert search_spec(unset[0]).max_uses == DEFAULT_MAX_USES
    spec = search_spec(capped[0])
    assert spec.max_uses == MAX_USES_CAP and spec.allowed_domains == ("a.org",)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"query": "  rust async  "}, ("rust async", None)),
        ({}, (None, "invalid_tool_input")),
        ({"query": 3}, (None, "invalid_tool_input")),
        ({"query": "   "}, (None, "invalid_tool_input")),
        (None, (None, "invalid_tool_input")),
        ({"query": "x" * 401}, (None, "query_too_long")),
    ],
)
def test_the_query_is_checked_as_anthropic_does(arguments: Any, expected: tuple[Any, Any]) -> None:
    assert search_query(arguments) == expected


def test_snippets_ride_in_encrypted_content_and_foreign_blobs_are_ignored() -> None:
    snippet = "Ünïcode snippet / with + signs = fine"
    encoded = encode_snippet(snippet)
    assert encoded.startswith("ppx1") and all(c.isalnum() or c in "_-" for c in encoded)
    assert decode_snippet(encoded) == snippet
    assert decode_snippet("EqgfCioIARgBIiQ3YTAw") == ""
    assert decode_snippet("ppx1!!!") == ""


def test_result_blocks_take_hits_or_an_error_code() -> None:
    hit = SearchHit("https://a.org/x", "A" * 900, "text", "May 1")
    block = result_block("srvtoolu_1", [hit])
    assert isinstance(block["content"], list)
    result = block["content"][0]
    assert result["type"] == "web_search_result" and len(result["title"]) == 500 and result["page_age"] == "May 1"
    error = result_block("srvtoolu_1", "unavailable")
    assert error["content"] == {"type": "web_search_tool_result_error", "error_code": "unavailable"}


def test_allowed_and_blocked_domains_filter_the_hits() -> None:
    hits = [
        SearchHit(url, "t")
        for url in ("https://a.org/x", "https://docs.a.org/y", "https://b.org/z", "https://evil-a.org/")
    ]
    assert [h.url for h in within_domains(hits, SearchSpec(5, allowed_domains=("a.org",)), 10)] == [
        "https://a.org/x",
        "https://docs.a.org/y",
    ]
    assert [h.url for h in within_domains(hits, SearchSpec(5, blocked_domains=("a.org",)), 10)] == [
        "https://b.org/z",
        "https://evil-a.org/",
    ]
    assert [h.url for h in within_domains(hits, SearchSpec(5, allowed_domains=("a.org/x",)), 10)] == ["https://a.org/x"]
    assert len(within_domains(hits, SearchSpec(5), 2)) == 2


def test_search_calls_become_server_tool_use_blocks_and_other_tools_stay() -> None:
    content: list[Any] = [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_1", "name": "web_search", "input": {"query": "q"}},
        {"type": "tool_use", "id": "call_2", "name": "Read", "input": {"path": "a"}},
    ]
    blocks, calls = search_calls(content)
    assert [b["type"] for b in blocks] == ["text", "server_tool_use", "tool_use"]
    assert calls == [SearchCall(blocks[1]["id"], {"query": "q"})]  # type: ignore[typeddict-item]
    assert calls[0].id.startswith("srvtoolu_")


def produced() -> list[Any]:
    return [
        {"type": "text", "text": "Searching."},
        {"type": "server_tool_use", "id": "srvtoolu_a", "name": "web_search", "input": {"query": "q"}},
        result_block("srvtoolu_a", [SearchHit("https://a.org/", "A", "alpha")]),
    ]


def test_the_next_round_repeats_the_answer_so_far_and_relaxes_a_forced_choice() -> None:
    base = offered(tool_choice={"type": "tool", "name": "web_search", "disable_parallel_tool_use": True})
    nxt = continued(base, produced(), search_offered=True)
    assert [m.role for m in nxt.messages] == ["user", "assistant"]
    assert nxt.tool_choice is not None and nxt.tool_choice.type == "auto" and nxt.tool_choice.disable_parallel_tool_use
    assert nxt.tools == base.tools
    spent = continued(base, produced(), search_offered=False)
    assert [t.name for t in spent.tools or ()] == ["Read"]


def test_the_next_round_joins_a_prefilled_assistant_turn() -> None:
    base = offered(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure:"}])
    nxt = continued(base, produced(), search_offered=True)
    assert len(nxt.messages) == 2 and nxt.messages[1].content[0].text == "Sure:"  # type: ignore[union-attr]


def history(*after: Any) -> list[Any]:
    assistant = [
        {"type": "text", "text": "Searching."},
        {"type": "server_tool_use", "id": "srvtoolu_a", "name": "web_search", "input": {"query": "alpha"}},
        {"type": "server_tool_use", "id": "srvtoolu_b", "name": "web_search", "input": {"query": "beta"}},
        result_block("srvtoolu_a", [SearchHit("https://a.org/", "A", "alpha text", "1 day")]),
        result_block("srvtoolu_b", "too_many_requests"),
        *after,
    ]
    return [
        {"role": "user", "content": "find"},
        {"role": "assistant", "content": assistant},
        {"role": "user", "content": "and?"},
    ]


def test_history_with_searches_becomes_calls_and_results_when_the_function_is_offered() -> None:
    base = offered(messages=history({"type": "text", "text": "Done."}))
    body = to_openai(history_for_upstream(base), route_for({"kind": "openai", "model": "gpt-4.1"})).body
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "assistant", "user"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["srvtoolu_a", "srvtoolu_b"]
    assert "alpha text" in messages[2]["content"] and "Published: 1 day" in messages[2]["content"]
    assert "too_many_requests" in messages[3]["content"] and '"beta"' in messages[3]["content"]
    assert messages[4]["content"] == "Done." and messages[5]["content"] == "and?"


def test_a_user_turn_after_results_follows_them_in_one_user_message() -> None:
    base = offered(messages=history())
    upstream = history_for_upstream(base).messages
    assert [m.role for m in upstream] == ["user", "assistant", "user"]
    kinds = [type(block).__name__ for block in upstream[2].content]  # type: ignore[union-attr]
    assert kinds == ["ToolResultBlock", "ToolResultBlock", "TextBlock"]


def test_history_with_searches_becomes_text_when_no_function_is_offered() -> None:
    base = request(messages=history({"type": "text", "text": "Done."}))
    upstream = history_for_upstream(base).messages
    assert [m.role for m in upstream] == ["user", "assistant", "user"]
    texts = [block.text for block in upstream[1].content]  # type: ignore[union-attr]
    assert texts[0] == "Searching." and texts[-1] == "Done."
    assert 'Web search results for "alpha"' in texts[1] and "https://a.org/" in texts[1]
    assert 'Web search for "beta" failed' in texts[2]


def test_server_blocks_decode_as_typed_blocks() -> None:
    raw = msgspec.json.encode({"model": "m", "max_tokens": 1, "messages": history(), "tools": [SEARCH]})
    decoded = msgspec.json.decode(raw, type=MessagesRequest)
    blocks = decoded.messages[1].content
    assert isinstance(blocks[1], ServerToolUseBlock) and isinstance(blocks[3], WebSearchToolResultBlock)


def test_openai_responses_targets_get_the_hosted_search_others_leave_the_tool_out() -> None:
    base = request(
        tools=[{**SEARCH, "blocked_domains": ["x.org"]}, READ], tool_choice={"type": "tool", "name": "web_search"}
    )
    native = to_responses(base, route_for({"kind": "openai", "model": "gpt-5"}))
    assert native.body["tools"][0] == {"type": "web_search"}
    assert native.body["include"] == ["web_search_call.action.sources", "reasoning.encrypted_content"]
    assert native.body["tool_choice"] == "auto"
    assert any("blocked_domains" in note for note in native.notes)
    azure = to_responses(base, route_for({"kind": "azure", "model": "gpt-5"}))
    assert [tool["type"] for tool in azure.body["tools"]] == ["function"]
    chat = to_openai(base, route_for({"kind": "openai", "model": "gpt-5"}))
    assert [tool["function"]["name"] for tool in chat.body["tools"]] == ["Read"]
