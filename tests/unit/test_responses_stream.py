"""Responses API stream transcripts -> Anthropic stream events: golden fixtures, the anthropic SDK's
accumulator as the oracle, the openai SDK's event types as the authority on what upstream sends.

Each `tests/fixtures/responses_api/streams/<case>/` holds `upstream.sse` (the bytes a provider sends),
`case.json` (what the case shows, the request's tool names and input-token estimate) and
`expected.json` (the Anthropic events, the random message id written as `msg_*`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provider_proxy.conversion.responses_request import ResponsesTranslation
from provider_proxy.conversion.responses_response import to_anthropic
from provider_proxy.conversion.responses_stream import (
    ResponsesPipeline,
    ResponsesStreamTranslator,
    decode_event,
    error_at_start,
)
from provider_proxy.conversion.signatures import read_thinking_signature
from provider_proxy.conversion.tools import ToolNames, upstream_tool_name
from provider_proxy.errors import ProxyError, UpstreamError
from provider_proxy.models.openai_responses import Response, StreamEvent
from provider_proxy.utils.sse import SSEDecoder
from tests.support import responses_api as api
from tests.unit.golden import check_golden
from tests.unit.test_stream_property import view
from tests.unit.test_stream_translator import accumulate, assert_well_formed, normalized

FIXTURES = Path(__file__).parent.parent / "fixtures" / "responses_api" / "streams"
CASES = sorted(path.name for path in FIXTURES.iterdir())
# Transcripts cut short or broken on purpose: not every event in them is a valid OpenAI event.
BROKEN = {"error_event_mid_stream", "failed_mid_stream", "end_without_completed"}
MODEL = "claude-sonnet-4-6"
Event = dict[str, Any]


def translation(tools: Iterable[str] = ()) -> ResponsesTranslation:
    return ResponsesTranslation({"model": "m", "input": [], "store": False}, ToolNames(tools), ())


def run(raw: bytes, case: dict[str, Any], pieces: Iterable[bytes] | None = None) -> list[Event]:
    translator = ResponsesStreamTranslator(MODEL, translation(case.get("tools", ())), case.get("input_tokens", 0))
    pipeline = ResponsesPipeline(translator)
    events: list[Event] = list(pipeline.start())
    for piece in [raw] if pieces is None else pieces:
        if piece:
            events += pipeline.feed(piece)
    return events + list(pipeline.feed(b""))


def load(case: str) -> tuple[bytes, dict[str, Any]]:
    folder = FIXTURES / case
    return (folder / "upstream.sse").read_bytes(), json.loads((folder / "case.json").read_text())


def upstream_events(raw: bytes) -> list[Event]:
    return [orjson.loads(sse.data) for sse in SSEDecoder().feed(raw)]


@pytest.mark.parametrize("case", CASES)
def test_responses_transcript_translates_to_the_expected_events(case: str) -> None:
    raw, options = load(case)
    check_golden(FIXTURES / case / "expected.json", normalized(run(raw, options)))


@pytest.mark.parametrize("case", CASES)
def test_responses_transcript_fed_byte_by_byte_gives_the_same_events(case: str) -> None:
    raw, options = load(case)
    events = run(raw, options, (raw[i : i + 1] for i in range(len(raw))))
    assert_well_formed(events)
    assert accumulate(normalized(events)) == accumulate(normalized(run(raw, options)))


@pytest.mark.parametrize("case", sorted(set(CASES) - BROKEN))
def test_responses_transcript_is_what_the_openai_sdk_accepts(case: str) -> None:
    raw, _ = load(case)
    api.validate_events(upstream_events(raw))


@pytest.mark.parametrize("case", sorted(set(CASES) - BROKEN))
def test_responses_transcript_streams_the_non_streaming_message(case: str) -> None:
    """The final response in `response.completed`, translated without streaming, is the same message."""
    raw, options = load(case)
    final = upstream_events(raw)[-1]["response"]
    api.validate_response(final)
    response = msgspec.convert(final, Response)
    expected = to_anthropic(response, MODEL, translation(options.get("tools", ())), options.get("input_tokens", 0))
    assert view(accumulate(run(raw, options))) == view(dict(expected))


def test_thinking_signature_carries_the_encrypted_reasoning() -> None:
    raw, options = load("reasoning_then_tool_calls")
    thinking = accumulate(run(raw, options))["content"][0]
    assert thinking["thinking"] == "First, look at the file.\n\nThen search."
    assert read_thinking_signature(thinking["signature"]) == {"enc": "gAAAA-enc-1"}


def test_failures_mid_stream_end_in_one_error_event_of_the_right_type() -> None:
    for case, error_type in [("failed_mid_stream", "api_error"), ("error_event_mid_stream", "rate_limit_error")]:
        raw, options = load(case)
        events = run(raw, options)
        assert events[-1] == {"type": "error", "error": {"type": error_type, "message": events[-1]["error"]["message"]}}
        assert [e for e in events if e["type"] == "error"] == [events[-1]]
        assert accumulate(events[:-1])["content"] == [{"type": "text", "text": "Partial answer", "citations": None}]


def test_a_stream_that_fails_at_once_can_fall_back() -> None:
    failed = {
        "type": "response.failed",
        "response": api.response([], status="failed", error={"code": "server_error", "message": "boom"}),
    }
    error = error_at_start(api.sse([failed]))
    assert isinstance(error, UpstreamError) and error.retryable and "boom" in error.message
    limited = error_at_start(api.sse([{"type": "error", "code": "invalid_prompt", "message": "bad"}]))
    assert isinstance(limited, UpstreamError) and not limited.retryable
    assert limited.error_type == "invalid_request_error"
    started = api.stream_events(api.response([api.message("hi")]))[:2]
    assert error_at_start(api.sse(started)) is None


def test_a_broken_event_is_an_api_error_that_shows_a_redacted_snippet() -> None:
    raw = b"event: response.output_text.delta\ndata: {not json sk-secret-key}\n\n"
    translator = ResponsesStreamTranslator(MODEL, translation())
    pipeline = ResponsesPipeline(translator, secrets=("sk-secret-key",))
    pipeline.start()
    events = pipeline.feed(raw)
    assert events[-1]["type"] == "error"
    message = events[-1]["error"]["message"]
    assert "not a Responses API event" in message and "sk-secret-key" not in message


def test_the_translator_refuses_events_before_start_and_after_the_end() -> None:
    translator = ResponsesStreamTranslator(MODEL, translation())
    delta = StreamEvent(type="response.output_text.delta", output_index=0, delta="x")
    with pytest.raises(RuntimeError):
        translator.push(delta)
    translator.start()
    translator.push(StreamEvent(type="response.completed", response=Response(status="completed")))
    assert translator.done
    with pytest.raises(RuntimeError):
        translator.push(delta)
    assert translator.fail(ProxyError("api_error", "late")) == []


def test_decode_event_names_the_error_code() -> None:
    sse = SSEDecoder().feed(api.sse([{"type": "error", "code": "server_error", "message": "oops"}]))[0]
    with pytest.raises(UpstreamError, match=r"oops \(code server_error\)"):
        decode_event(sse)


# -- property: however the stream is cut, it rebuilds the non-streaming message --

LONG_NAME = "mcp__workspace_tools__search_every_repository_for_a_symbol_and_summarise_the_results"
TOOLS = ["Read", "Bash", LONG_NAME]
prose = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def items(draw: st.DrawFn) -> list[api.Item]:
    output: list[api.Item] = []
    for n in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["reasoning", "message", "function_call"]))
        if kind == "reasoning":
            encrypted = draw(st.none() | st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1))
            output.append(api.reasoning(draw(st.lists(prose, max_size=3)), encrypted, f"rs_{n}"))
        elif kind == "message":
            output.append(api.message(draw(prose), f"msg_{n}", refusal=draw(st.booleans())))
        else:
            arguments = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3))
            name = upstream_tool_name(draw(st.sampled_from(TOOLS)))
            output.append(api.function_call(f"call_{n}", name, orjson.dumps(arguments).decode()))
    return output


def cuts(draw: st.DrawFn, text: str) -> list[str]:
    points = sorted(draw(st.sets(st.integers(0, len(text)), max_size=3)))
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True) if b > a]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_split_of_a_responses_stream_gives_the_non_streaming_message(data: st.DataObject) -> None:
    status = data.draw(st.sampled_from(["completed", "incomplete"]))
    reason = "max_output_tokens" if status == "incomplete" else None
    usage = api.usage(data.draw(st.integers(0, 9000)), data.draw(st.integers(0, 9000)), data.draw(st.integers(0, 50)))
    final = api.response(data.draw(items()), status=status, incomplete_reason=reason, usage_=usage)
    raw = api.sse(api.stream_events(final, lambda text: cuts(data.draw, text)))
    points = sorted(data.draw(st.sets(st.integers(0, len(raw)), max_size=12)))
    split = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    expected = to_anthropic(msgspec.convert(final, Response), MODEL, translation(TOOLS))
    events = run(raw, {"tools": TOOLS}, split)
    assert_well_formed(events)
    assert view(accumulate(events)) == view(dict(expected))
