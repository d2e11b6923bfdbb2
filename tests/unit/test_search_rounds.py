"""Several upstream rounds as one Anthropic answer: numbering, held ends, usage, the rules of max_uses."""

from __future__ import annotations

from typing import Any

from provider_proxy.conversion.search_rounds import SearchEvents, SearchMessage
from provider_proxy.conversion.server_tools import SearchHit, SearchSpec, result_block

USAGE = {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2}


def round_events(*blocks: tuple[dict[str, Any], list[dict[str, Any]]], stop: str) -> list[Any]:
    events: list[Any] = [{"type": "message_start", "message": {"id": "msg_x", "usage": USAGE}}]
    for index, (block, deltas) in enumerate(blocks):
        events.append({"type": "content_block_start", "index": index, "content_block": block})
        events += [{"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas]
        events.append({"type": "content_block_stop", "index": index})
    events.append({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": USAGE})
    events.append({"type": "message_stop"})
    return events


TEXT = ({"type": "text", "text": ""}, [{"type": "text_delta", "text": "Look"}, {"type": "text_delta", "text": "ing."}])
SEARCH = (
    {"type": "tool_use", "id": "call_1", "name": "web_search", "input": {}},
    [{"type": "input_json_delta", "partial_json": '{"query": '}, {"type": "input_json_delta", "partial_json": '"q"}'}],
)


def test_rounds_become_one_message_numbered_on_with_results_between() -> None:
    events = SearchEvents(SearchSpec(max_uses=3))
    first = events.feed(round_events(TEXT, SEARCH, stop="tool_use"))
    block = ["content_block_start", "content_block_delta", "content_block_delta", "content_block_stop"]
    assert [e["type"] for e in first] == ["message_start", *block, *block]
    use = first[5]["content_block"]
    assert use["type"] == "server_tool_use" and use["id"].startswith("srvtoolu_") and use["input"] == {}
    assert events.round_over and events.next_round
    steps = events.steps()
    assert [(s.call.id, s.query) for s in steps] == [(use["id"], "q")]
    results = events.results([result_block(use["id"], [SearchHit("https://a.org/", "A")])])
    assert [(e["type"], e["index"]) for e in results] == [("content_block_start", 2), ("content_block_stop", 2)]
    events.begin_round()
    second = events.feed(
        round_events(({"type": "text", "text": ""}, [{"type": "text_delta", "text": "Done."}]), stop="end_turn")
    )
    assert [e["type"] for e in second] == ["content_block_start", "content_block_delta", "content_block_stop"]
    assert {e["index"] for e in second} == {3}
    assert not events.next_round
    end = events.finish()
    assert end[0]["delta"]["stop_reason"] == "end_turn"
    assert end[0]["usage"] == {
        "input_tokens": 20,
        "output_tokens": 10,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 4,
        "server_tool_use": {"web_search_requests": 1},
    }
    assert [b["type"] for b in events.content] == ["text", "server_tool_use", "web_search_tool_result", "text"]
    assert events.content[0]["text"] == "Looking." and events.content[1]["input"] == {"query": "q"}  # type: ignore[typeddict-item]


def test_a_round_with_a_client_tool_call_ends_the_answer_after_its_searches() -> None:
    events = SearchEvents(SearchSpec(max_uses=3))
    read = ({"type": "tool_use", "id": "call_2", "name": "Read", "input": {"path": "a"}}, [])
    events.feed(round_events(SEARCH, read, stop="tool_use"))
    assert events.steps() and not events.next_round
    assert events.finish()[0]["delta"]["stop_reason"] == "tool_use"


def test_an_answer_without_searches_has_no_server_tool_usage() -> None:
    events = SearchEvents(SearchSpec(max_uses=3))
    events.feed(round_events(TEXT, stop="end_turn"))
    assert events.steps() == [] and "server_tool_use" not in events.finish()[0]["usage"]


def test_broken_search_arguments_are_invalid_input() -> None:
    events = SearchEvents(SearchSpec(max_uses=3))
    broken = (SEARCH[0], [{"type": "input_json_delta", "partial_json": '{"query": "q'}])
    events.feed(round_events(broken, stop="tool_use"))
    assert [(s.query, s.error) for s in events.steps()] == [(None, "invalid_tool_input")]


def message(content: list[Any], stop: str) -> Any:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": dict(USAGE),
    }


def call(query: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": "call_x", "name": "web_search", "input": {"query": query}}


def test_max_uses_turns_further_calls_into_errors_and_the_rounds_end_paused() -> None:
    answer = SearchMessage(SearchSpec(max_uses=1))
    planned = []
    rounds = 0
    while True:
        rounds += 1
        steps = answer.add(message([call("q"), call("r")], "tool_use"))
        planned.append([(s.query, s.error) for s in steps])
        answer.add_results([result_block(s.call.id, s.error or []) for s in steps])
        if not answer.next_round:
            break
    assert rounds == 3
    assert planned[0] == [("q", None), (None, "max_uses_exceeded")]
    assert planned[1] == [(None, "max_uses_exceeded"), (None, "max_uses_exceeded")]
    assert not answer.rounds.search_offered
    final = answer.message()
    assert final["stop_reason"] == "pause_turn" and final["id"] == "msg_1"
    assert final["usage"]["server_tool_use"] == {"web_search_requests": 1}
    assert final["usage"]["input_tokens"] == 30
