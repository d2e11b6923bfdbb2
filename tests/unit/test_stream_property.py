"""Property: however a completion is chunked, streaming rebuilds what the non-streaming path returns.

For one completion (reasoning, text, several tool calls), the upstream stream is cut at random:
strings split across chunks, tool-call fragments interleaved, the SSE bytes split anywhere. The
anthropic SDK's stream accumulator must rebuild from our events the same content blocks, stop_reason
and usage as `conversion.response.to_anthropic` on the equivalent non-streaming completion.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provider_proxy.conversion.response import to_anthropic
from provider_proxy.conversion.tools import upstream_tool_name
from provider_proxy.models.openai import ChatCompletion
from tests.unit.test_stream_translator import accumulate, assert_well_formed, run_transcript, translation

LONG_NAME = "mcp__workspace_tools__search_every_repository_for_a_symbol_and_summarise_the_results"
TOOLS = ["Read", "Bash", LONG_NAME]
Completion = dict[str, Any]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
tool_calls = st.lists(
    st.tuples(st.sampled_from(TOOLS), st.dictionaries(st.text(max_size=8), json_values, max_size=4)),
    max_size=3,
)
prose = st.text(st.characters(blacklist_characters="<", blacklist_categories=("Cs",)), max_size=40)


@st.composite
def completions(draw: st.DrawFn) -> Completion:
    calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": upstream_tool_name(name), "arguments": args}}
        for i, (name, arguments) in enumerate(draw(tool_calls))
        for args in [orjson.dumps(arguments).decode() if arguments or draw(st.booleans()) else ""]
    ]
    message: dict[str, Any] = {"role": "assistant", "content": draw(prose) or None}
    reasoning = draw(prose)
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = calls
    usage = {"prompt_tokens": draw(st.integers(0, 5000)), "completion_tokens": draw(st.integers(0, 5000))}
    finish = draw(st.sampled_from(["stop", "length", "tool_calls"]))
    return {"id": "c", "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}


def pieces(draw: st.DrawFn, text: str) -> list[str]:
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=4)))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def call_fragments(draw: st.DrawFn, index: int, call: dict[str, Any]) -> list[dict[str, Any]]:
    """One call's deltas: id and name on the first fragment, or (sometimes) on the second."""
    function = call["function"]
    parts = [{"index": index, "function": {"arguments": part}} for part in pieces(draw, function["arguments"])]
    head = parts[1] if len(parts) > 1 and draw(st.booleans()) else parts[0]
    head.update(id=call["id"], type="function")
    head["function"]["name"] = function["name"]
    return parts


def interleaved(draw: st.DrawFn, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All calls' fragments, each call in order and each call starting after the previous one started."""
    queues = [call_fragments(draw, i, call) for i, call in enumerate(calls)]
    merged: list[dict[str, Any]] = []
    started = 0
    while any(queues):
        live = [i for i in range(min(started + 1, len(queues))) if queues[i]]
        pick = draw(st.sampled_from(live))
        started = max(started, pick + 1)
        merged.append(queues[pick].pop(0))
    return merged


@st.composite
def transcripts(draw: st.DrawFn, completion: Completion) -> list[bytes]:
    message = completion["choices"][0]["message"]
    chunks = [chunk({"role": "assistant"})]
    chunks += [chunk({"reasoning_content": part}) for part in pieces(draw, message.get("reasoning_content") or "")]
    chunks += [chunk({"content": part}) for part in pieces(draw, message["content"] or "")]
    chunks += [chunk({"tool_calls": [fragment]}) for fragment in interleaved(draw, message.get("tool_calls", []))]
    chunks.append(chunk({}, completion["choices"][0]["finish_reason"]))
    chunks.append({"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": completion["usage"]})
    raw = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    cuts = sorted(draw(st.sets(st.integers(0, len(raw)), max_size=12)))
    return [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]


def view(message: dict[str, Any]) -> dict[str, Any]:
    """The fields both paths must agree on (the SDK adds optional fields, and ids are random)."""
    keys = {
        "thinking": ("type", "thinking", "signature"),
        "text": ("type", "text"),
        "tool_use": ("type", "id", "name", "input"),
    }
    usage = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    return {
        "content": [{key: block[key] for key in keys[block["type"]]} for block in message["content"]],
        "stop_reason": message["stop_reason"],
        "stop_sequence": message["stop_sequence"],
        "usage": {key: message["usage"][key] for key in usage},
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_chunking_of_a_completion_streams_the_non_streaming_message(data: st.DataObject) -> None:
    completion = data.draw(completions())
    split = data.draw(transcripts(completion))
    expected = to_anthropic(msgspec.convert(completion, ChatCompletion), "claude-sonnet-4-6", translation(TOOLS))
    events = run_transcript(b"".join(split), {"tools": TOOLS}, split)
    assert_well_formed(events)
    assert view(accumulate(events)) == view(expected)
