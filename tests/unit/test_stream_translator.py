"""Upstream SSE transcripts -> Anthropic stream events, against golden fixtures and the SDK's accumulator.

Each `tests/fixtures/streams/<case>/` holds `upstream.sse` (the raw bytes a provider sent), `case.json`
(what the case shows, plus the request's tool names, stop sequences, input-token estimate and, for
recovering tool calls written as text, `text_tools`: tool name -> its string parameters) and
`expected.json` (the Anthropic events, with the random message id written as `msg_*`).
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event

from provider_proxy.conversion.request import Translation
from provider_proxy.conversion.stream import StreamTranslator
from provider_proxy.conversion.stream_pipeline import EventPipeline
from provider_proxy.conversion.stream_text import ArgumentStream, ThinkTags
from provider_proxy.conversion.tools import ToolNames
from provider_proxy.errors import ProxyError
from provider_proxy.models.openai import ChatCompletionChunk, ChunkChoice, Delta, FunctionCall, ToolCall

FIXTURES = Path(__file__).parent.parent / "fixtures" / "streams"
CASES = sorted(path.name for path in FIXTURES.iterdir())
Event = dict[str, Any]


def translation(
    tools: Iterable[str] = (), stop_sequences: Iterable[str] = (), text_tools: dict[str, list[str]] | None = None
) -> Translation:
    """`text_tools`: offered (upstream) tool name -> its string parameters, to recover calls written as text."""
    recovered = None if text_tools is None else {name: frozenset(strings) for name, strings in text_tools.items()}
    return Translation({}, ToolNames(tools), tuple(stop_sequences), (), recovered)


def run_transcript(raw: bytes, case: dict[str, Any], pieces: Iterable[bytes] | None = None) -> list[Event]:
    """The events the proxy sends for upstream bytes delivered in `pieces` (default: all at once)."""
    request = translation(case.get("tools", ()), case.get("stop_sequences", ()), case.get("text_tools"))
    pipeline = EventPipeline(StreamTranslator("claude-sonnet-4-6", request, case.get("input_tokens", 0)))
    events = pipeline.start()
    for piece in [raw] if pieces is None else pieces:
        if piece:  # b"" is how the pipeline hears that the upstream closed the stream
            events += pipeline.feed(piece)
    return events + pipeline.feed(b"")


def normalized(events: list[Event]) -> list[Event]:
    """The random ids the proxy makes written as `msg_*` and `toolu_*` (tool ids it had to make up)."""
    events = json.loads(json.dumps(events))
    events[0]["message"]["id"] = "msg_*"
    for event in events:
        block = event.get("content_block", {})
        if block.get("type") == "tool_use" and block["id"].startswith("toolu_"):
            block["id"] = "toolu_*"
    return events


def accumulate(events: list[Event]) -> dict[str, Any]:
    """The final message as the anthropic SDK's stream accumulator builds it."""
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in events:
        if event["type"] not in ("ping", "error"):
            snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)  # type: ignore[arg-type]
    assert snapshot is not None
    return snapshot.model_dump()


def assert_well_formed(events: list[Event]) -> None:
    """message_start first; one block open at a time, indexes in order; ends in message_stop or error."""
    assert events[0]["type"] == "message_start"
    open_index: int | None = None
    next_index = 0
    for event in events[1:-1]:
        match event["type"]:
            case "content_block_start":
                assert open_index is None and event["index"] == next_index
                open_index, next_index = event["index"], next_index + 1
            case "content_block_delta":
                assert event["index"] == open_index
            case "content_block_stop":
                assert event["index"] == open_index
                open_index = None
            case "message_delta":
                assert open_index is None
            case "ping":
                pass
            case other:
                raise AssertionError(f"unexpected event {other}")
    last = events[-1]["type"]
    assert last == "error" or (last == "message_stop" and events[-2]["type"] == "message_delta")


def load(case: str) -> tuple[bytes, dict[str, Any], list[Event]]:
    folder = FIXTURES / case
    expected = json.loads((folder / "expected.json").read_text())
    return (folder / "upstream.sse").read_bytes(), json.loads((folder / "case.json").read_text()), expected


@pytest.mark.parametrize("case", CASES)
def test_transcript_translates_to_the_expected_events(case: str) -> None:
    raw, options, expected = load(case)
    assert normalized(run_transcript(raw, options)) == expected


@pytest.mark.parametrize("case", CASES)
def test_transcript_fed_byte_by_byte_gives_the_same_message(case: str) -> None:
    raw, options, expected = load(case)
    events = run_transcript(raw, options, (raw[i : i + 1] for i in range(len(raw))))
    assert_well_formed(events)
    assert accumulate(normalized(events)) == accumulate(expected)


@pytest.mark.parametrize("case", CASES)
def test_transcript_events_are_well_formed_for_the_sdk(case: str) -> None:
    _, _, expected = load(case)
    assert_well_formed(expected)
    message = accumulate(expected)
    for block in message["content"]:
        if block["type"] == "tool_use":
            assert isinstance(block["input"], dict)
        if block["type"] == "thinking":
            assert block["signature"].startswith("ppx1.")


def test_interleaved_calls_keep_every_fragment_in_its_own_block() -> None:
    raw, options, _ = load("interleaved_tool_calls")
    content = accumulate(run_transcript(raw, options))["content"]
    assert [(b["id"], b["name"], b["input"]) for b in content] == [
        ("call_a", "Read", {"file_path": "a.py"}),
        ("call_b", "Grep", {"pattern": "TODO"}),
    ]


def test_truncated_arguments_end_as_a_valid_object() -> None:
    raw, options, _ = load("truncated_arguments")
    message = accumulate(run_transcript(raw, options))
    assert message["stop_reason"] == "max_tokens"
    assert message["content"][0]["input"] == {"file_path": "a.txt", "content": "line one\nline tw"}


def test_a_call_without_a_name_waits_until_the_name_arrives() -> None:
    translator = StreamTranslator("claude-sonnet-4-6", translation(["Read"]))
    translator.start()
    nameless = chunk(tool_calls=[ToolCall(index=0, function=FunctionCall(arguments='{"a":'))])
    assert translator.feed(nameless) == []
    named = chunk(tool_calls=[ToolCall(index=0, id="c1", function=FunctionCall(name="Read", arguments=" 1}"))])
    events = translator.feed(named)
    assert events[0]["content_block"] == {"type": "tool_use", "id": "c1", "name": "Read", "input": {}}
    assert [e["delta"]["partial_json"] for e in events[1:]] == ['{"a": 1}']


def test_arguments_already_parsed_by_the_provider_stream_as_json() -> None:
    translator = StreamTranslator("claude-sonnet-4-6", translation(["Read"]))
    translator.start()
    call = ToolCall(index=0, id="c1", function=FunctionCall(name="Read", arguments={"path": "x"}))
    events = translator.feed(chunk(tool_calls=[call], finish_reason="tool_calls")) + translator.finish()
    assert accumulate([*translator_start(), *events])["content"][0]["input"] == {"path": "x"}


def test_a_generated_tool_id_is_used_when_the_provider_sends_none() -> None:
    translator = StreamTranslator("claude-sonnet-4-6", translation(["Now"]))
    translator.start()
    events = translator.feed(chunk(tool_calls=[ToolCall(index=0, function=FunctionCall(name="Now"))]))
    assert events[0]["content_block"]["id"].startswith("toolu_")


def test_the_translator_refuses_chunks_before_start_and_after_the_end() -> None:
    translator = StreamTranslator("claude-sonnet-4-6", translation())
    with pytest.raises(RuntimeError):
        translator.feed(chunk(content="x"))
    translator.start()
    translator.feed(chunk(content="x", finish_reason="stop"))
    translator.finish()
    with pytest.raises(RuntimeError):
        translator.feed(chunk(content="y"))
    assert translator.fail(ProxyError("api_error", "late")) == []


def test_usage_reported_after_the_stream_matches_message_delta() -> None:
    translator = StreamTranslator("claude-sonnet-4-6", translation(), input_tokens=50)
    translator.start()
    translator.feed(chunk(content="abcdefgh", finish_reason="stop"))
    delta = translator.finish()[-2]
    assert (
        delta["usage"]
        == translator.usage
        == {
            "input_tokens": 50,
            "output_tokens": 2,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
    )


@pytest.mark.parametrize(
    ("fragments", "expected"),
    [
        (['{"a": 1,', " }"], {"a": 1}),
        (['{"a": [1, 2,]', "}"], {"a": [1, 2]}),
        (['{"a": "x\\', 'ny"}'], {"a": "x\ny"}),
        (['{"a": {"b": "c', ""], {"a": {"b": "c"}}),
        (['{"a": 1} trailing'], {"a": 1}),
        (["  ", ' {"a": 1}'], {"a": 1}),
        (["```json\n", '{"a": 1}\n```'], {"a": 1}),
        (["[1, 2]"], {"_arguments": [1, 2]}),
    ],
)
def test_argument_stream_keeps_the_client_json_parseable(fragments: list[str], expected: dict[str, Any]) -> None:
    stream = ArgumentStream()
    sent = "".join(stream.feed(fragment) for fragment in fragments) + stream.close()
    assert json.loads(sent) == expected


def test_content_that_does_not_open_with_a_think_tag_passes_through() -> None:
    tags = ThinkTags()
    assert tags.feed("  <th") == []
    assert [text for _, text in tags.feed("is is text")] == ["  <this is text"]


def test_an_unfinished_think_tag_prefix_is_text_at_the_end() -> None:
    tags = ThinkTags()
    tags.feed("<thi")
    assert [(kind.value, text) for kind, text in tags.flush()] == [("text", "<thi")]


def chunk(
    content: str | None = None, tool_calls: list[ToolCall] | None = None, finish_reason: str | None = None
) -> ChatCompletionChunk:
    delta = Delta(content=content, tool_calls=tool_calls)
    return ChatCompletionChunk(choices=[ChunkChoice(delta=delta, finish_reason=finish_reason)])


def translator_start() -> list[Event]:
    return StreamTranslator("claude-sonnet-4-6", translation()).start()


def test_mistral_content_parts_stream_as_thinking_then_text() -> None:
    parts = [
        b'data: {"choices":[{"index":0,"delta":{"content":[{"type":"thinking",'
        b'"thinking":[{"type":"text","text":"plan"}]}]}}]}\n\n',
        b'data: {"choices":[{"index":0,"delta":{"content":[{"type":"text","text":"Done."}]}}]}\n\n',
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n',
    ]
    message = accumulate(run_transcript(b"".join(parts), {}))
    assert [block["type"] for block in message["content"]] == ["thinking", "text"]
    assert message["content"][0]["thinking"] == "plan"
    assert message["content"][1]["text"] == "Done."


def test_deltas_of_one_block_and_kind_from_one_read_are_joined() -> None:
    translator = StreamTranslator("claude-sonnet-4-6", translation(["Read"]))
    translator.start()
    for piece in ("a", "b"):
        translator.push(ChatCompletionChunk(choices=[ChunkChoice(delta=Delta(reasoning_content=piece))]))
    for piece in ("x", "y", "z"):
        translator.push(chunk(content=piece))
    for fragment in ('{"file', '_path": 1}'):
        call = ToolCall(index=0, id="c1", function=FunctionCall(name="Read", arguments=fragment))
        translator.push(chunk(tool_calls=[call]))
    events = translator.take()
    deltas = [(e["index"], e["delta"]) for e in events if e["type"] == "content_block_delta"]
    assert [(index, delta["type"]) for index, delta in deltas] == [
        (0, "thinking_delta"),
        (0, "signature_delta"),
        (1, "text_delta"),
        (2, "input_json_delta"),
    ]
    assert deltas[0][1] == {"type": "thinking_delta", "thinking": "ab"}
    assert deltas[2][1] == {"type": "text_delta", "text": "xyz"}
    assert deltas[3][1] == {"type": "input_json_delta", "partial_json": '{"file_path": 1}'}


def test_deltas_from_separate_reads_stay_separate_events() -> None:
    translator = StreamTranslator("claude-sonnet-4-6", translation())
    translator.start()
    first = translator.feed(chunk(content="one "))
    second = translator.feed(chunk(content="two"))
    assert [e["delta"] for e in first if e["type"] == "content_block_delta"] == [{"type": "text_delta", "text": "one "}]
    assert second == [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "two"}}]


def _translate_calls(count: int, *, with_index: bool = True) -> tuple[float, list[Event]]:
    """Process time to translate `count` streamed tool calls (name, then two argument fragments each)."""
    chunks = []
    for i in range(count):
        index = i if with_index else None
        chunks += [
            chunk(tool_calls=[ToolCall(index=index, id=f"call_{i}", function=FunctionCall(name="Read", arguments=""))]),
            chunk(tool_calls=[ToolCall(index=index, function=FunctionCall(arguments='{"path": '))]),
            chunk(tool_calls=[ToolCall(index=index, function=FunctionCall(arguments=f'"/f{i}"}}'))]),
        ]
    chunks.append(chunk(finish_reason="tool_calls"))
    translator = StreamTranslator("claude-sonnet-4-6", translation(["Read"]))
    start = translator.start()
    # The translator's own work, without the collector's passes over everything alive.
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        for piece in chunks:
            translator.push(piece)
        events = start + translator.take() + translator.finish()
        return time.process_time() - started, events
    finally:
        gc.enable()


@pytest.mark.parametrize("with_index", [True, False], ids=["indexed", "gemini-style"])
def test_thousands_of_streamed_tool_calls_take_linear_time(with_index: bool) -> None:
    small, _ = min((_translate_calls(2_000, with_index=with_index) for _ in range(3)), key=lambda run: run[0])
    large, events = min((_translate_calls(8_000, with_index=with_index) for _ in range(2)), key=lambda run: run[0])
    # Four times the calls: about four times the work when linear, sixteen when quadratic.
    assert large < 8 * small, f"2,000 calls {small:.3f}s, 8,000 calls {large:.3f}s"
    starts = [e for e in events if e["type"] == "content_block_start"]
    assert len(starts) == 8_000
    assert starts[-1]["content_block"]["id"] == "call_7999"
    message = accumulate(events)
    assert message["content"][1234]["input"] == {"path": "/f1234"}
    assert message["stop_reason"] == "tool_use"
