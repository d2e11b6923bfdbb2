"""Tool calls that local models write as text become tool_use blocks, streaming and not.

The oracle for streaming is the non-streaming path: however the upstream bytes are cut, the anthropic
SDK's accumulator must rebuild from our events the message `to_anthropic` returns for the same content.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provider_proxy.conversion.request import to_openai
from provider_proxy.conversion.response import to_anthropic
from provider_proxy.conversion.text_tools import TextCall, recover_calls
from provider_proxy.conversion.tools import upstream_tool_name
from provider_proxy.models.anthropic import MessagesRequest
from provider_proxy.models.openai import ChatCompletion
from tests.unit.golden import route_for
from tests.unit.test_profiles_and_facts import config_with
from tests.unit.test_stream_property import view as full_view
from tests.unit.test_stream_translator import accumulate, assert_well_formed, run_transcript, translation

LONG = "mcp__workspace_tools__search_every_repository_for_a_symbol_and_summarise_the_results"
SHORT = upstream_tool_name(LONG)
TOOLS = ["Read", "Bash", LONG]
STRINGS = {"Read": ["file_path"], "Bash": ["command"], SHORT: ["query"]}
CASE = {"tools": TOOLS, "text_tools": STRINGS}

# Each format, the call it holds.
FORMATS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "hermes_json": (
        '<tool_call>\n{"name": "Read", "arguments": {"file_path": "a.py", "limit": 5}}\n</tool_call>',
        "Read",
        {"file_path": "a.py", "limit": 5},
    ),
    "hermes_arguments_as_string": (
        '<tool_call>{"name": "Bash", "arguments": "{\\"command\\": \\"ls\\"}"}</tool_call>',
        "Bash",
        {"command": "ls"},
    ),
    "qwen3_coder_parameters": (
        "<tool_call>\n<function=Read>\n<parameter=file_path>\n123\n</parameter>\n<parameter=limit>\n5\n"
        "</parameter>\n</function>\n</tool_call>",
        "Read",
        {"file_path": "123", "limit": 5},
    ),
    "function_json": ('<function=Bash>{"command": "git status"}</function>', "Bash", {"command": "git status"}),
    "function_parameters": (
        "<function=Bash><parameter=command>echo '<hi>'</parameter><parameter=timeout>10</parameter></function>",
        "Bash",
        {"command": "echo '<hi>'", "timeout": 10},
    ),
    "bare_json": ('{"name": "Read", "arguments": {"file_path": "b.py"}}', "Read", {"file_path": "b.py"}),
    "bare_json_parameters": ('  {"name": "Bash", "parameters": {"command": "pwd"}}\n', "Bash", {"command": "pwd"}),
    "shortened_long_name": (
        f'<tool_call>{{"name": "{SHORT}", "arguments": {{"query": "x"}}}}</tool_call>',
        LONG,
        {"query": "x"},
    ),
}


def completion(content: str, finish: str = "stop", tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "c",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20},
    }


def answer(content: str, case: dict[str, Any] = CASE, **kwargs: Any) -> dict[str, Any]:
    request = translation(case["tools"], (), case.get("text_tools"))
    message = to_anthropic(msgspec.convert(completion(content, **kwargs), ChatCompletion), "m", request)
    return dict(message)


def sse(content_pieces: list[str], finish: str = "stop", tool_calls: list[dict[str, Any]] | None = None) -> bytes:
    def chunk(delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        return {
            "id": "c",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
        }

    chunks = [chunk({"role": "assistant"})] + [chunk({"content": piece}) for piece in content_pieces]
    chunks += [chunk({"tool_calls": [call]}) for call in tool_calls or ()]
    chunks += [chunk({}, finish), {"id": "c", "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 20}}]
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def streamed(pieces: list[str], case: dict[str, Any] = CASE, **kwargs: Any) -> dict[str, Any]:
    raw = sse(pieces, **kwargs)
    events = run_transcript(raw, case)
    assert_well_formed(events)
    return accumulate(events)


def view(message: dict[str, Any]) -> dict[str, Any]:
    """What both paths must agree on, with the ids the proxy made up (random) written `toolu_*`."""
    seen = full_view(message)
    for block in seen["content"]:
        if block["type"] == "tool_use" and block["id"].startswith("toolu_"):
            block["id"] = "toolu_*"
    return seen


def blocks(message: dict[str, Any]) -> list[Any]:
    return [
        (b["type"], b["text"]) if b["type"] == "text" else (b["type"], b["name"], b["input"])
        for b in message["content"]
    ]


@pytest.mark.parametrize("name", FORMATS)
def test_each_format_becomes_a_tool_use_block(name: str) -> None:
    text, tool, arguments = FORMATS[name]
    message = answer(text)
    assert blocks(message) == [("tool_use", tool, arguments)]
    assert message["stop_reason"] == "tool_use"
    assert message["content"][0]["id"].startswith("toolu_")


@pytest.mark.parametrize("name", FORMATS)
def test_each_format_split_at_every_boundary_streams_the_same_message(name: str) -> None:
    content = f"Checking.\n\n{FORMATS[name][0]}" if not name.startswith("bare") else FORMATS[name][0]
    expected = view(answer(content))
    for cut in range(len(content) + 1):
        pieces = [content[:cut], content[cut:]]
        assert view(streamed(pieces)) == expected, pieces


def test_text_around_calls_stays_text_and_whitespace_between_them_is_dropped() -> None:
    content = (
        'First I look.\n<tool_call>{"name": "Read", "arguments": {"file_path": "a"}}</tool_call>\n'
        '<tool_call>{"name": "Read", "arguments": {"file_path": "b"}}</tool_call>\nThen I decide.'
    )
    assert blocks(answer(content)) == [
        ("text", "First I look."),
        ("tool_use", "Read", {"file_path": "a"}),
        ("tool_use", "Read", {"file_path": "b"}),
        ("text", "Then I decide."),
    ]


@pytest.mark.parametrize(
    "content",
    [
        '<tool_call>{"name": "Delete", "arguments": {}}</tool_call>',  # not offered
        "<function=rm>{}</function>",
        '{"name": "Read", "arguments": {"file_path": "a"}} and more text',  # not the whole content
        '{"name": "Nope", "arguments": {}}',
        '<tool_call>{"name": "Read", "arguments": {"file_path": </tool_call>',  # broken JSON
        "a <b>bold</b> <tool_calls> <function=Read without a close",
        '{"result": 42}',
    ],
)
def test_anything_else_stays_text_exactly_as_written(content: str) -> None:
    assert blocks(answer(content)) == [("text", content)]
    assert view(streamed([content[: len(content) // 2], content[len(content) // 2 :]])) == view(answer(content))


def test_an_unclosed_tag_at_the_end_is_still_a_call() -> None:
    content = '<tool_call>\n{"name": "Read", "arguments": {"file_path": "a"}}\n'
    assert blocks(answer(content)) == [("tool_use", "Read", {"file_path": "a"})]


def test_without_the_profile_flag_or_without_tools_text_stays_text() -> None:
    content = FORMATS["hermes_json"][0]
    assert blocks(answer(content, {"tools": TOOLS})) == [("text", content)]
    assert blocks(streamed([content], {"tools": TOOLS})) == [("text", content)]


def request(**fields: Any) -> MessagesRequest:
    body = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **fields}
    return msgspec.convert(body, MessagesRequest)


@pytest.mark.parametrize(
    ("kind", "on"),
    [("ollama", True), ("vllm", True), ("llamacpp", True), ("lmstudio", True), ("generic", False), ("openai", False)],
)
def test_local_profiles_recover_text_calls_when_the_request_offers_tools(kind: str, on: bool) -> None:
    tool = {
        "name": "Read",
        "input_schema": {
            "type": "object",
            "properties": {"file_path": {"type": "string"}, "limit": {"type": "integer"}},
        },
    }
    route = route_for({"kind": kind, "model": "qwen3-coder"})
    with_tools = to_openai(request(tools=[tool]), route)
    assert with_tools.text_tools == ({"Read": frozenset({"file_path"})} if on else None)
    assert to_openai(request(), route).text_tools is None


def test_the_stream_and_the_answer_agree_with_native_calls_after_text_calls() -> None:
    content = 'Two ways.\n<function=Read>{"file_path": "x"}</function>'
    native = [
        {"index": 0, "id": "call_0", "type": "function", "function": {"name": "Bash", "arguments": '{"command": "ls"}'}}
    ]
    expected = answer(content, tool_calls=native, finish="tool_calls")
    assert blocks(expected) == [
        ("text", "Two ways."),
        ("tool_use", "Read", {"file_path": "x"}),
        ("tool_use", "Bash", {"command": "ls"}),
    ]
    assert view(streamed([content[:20], content[20:]], tool_calls=native, finish="tool_calls")) == view(expected)


def test_repeated_tool_call_ids_in_one_answer_are_made_unique() -> None:
    calls = [
        {"id": "call_0", "type": "function", "function": {"name": "Read", "arguments": json.dumps({"file_path": p})}}
        for p in ("a", "b")
    ]
    ids = [b["id"] for b in answer("", {"tools": TOOLS}, tool_calls=calls, finish="tool_calls")["content"]]
    assert ids[0] == "call_0" and ids[1].startswith("toolu_")
    streamed_calls = [dict(call, index=i) for i, call in enumerate(calls)]
    ids = [b["id"] for b in streamed([], {"tools": TOOLS}, tool_calls=streamed_calls, finish="tool_calls")["content"]]
    assert ids[0] == "call_0" and ids[1].startswith("toolu_")


def test_made_up_ids_pair_calls_and_results_on_the_next_turn() -> None:
    message = answer('<function=Read>{"file_path": "a"}</function><function=Read>{"file_path": "b"}</function>')
    first, second = (block["id"] for block in message["content"])
    history = [
        {"role": "user", "content": "read both"},
        {"role": "assistant", "content": message["content"]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": second, "content": "B"},
                {"type": "tool_result", "tool_use_id": first, "content": "A"},
            ],
        },
    ]
    tool = {"name": "Read", "input_schema": {"type": "object"}}
    body = to_openai(request(messages=history, tools=[tool]), route_for({"kind": "ollama", "model": "m"})).body
    sent = body["messages"]
    assert [c["id"] for c in sent[1]["tool_calls"]] == [first, second]
    assert [(m["tool_call_id"], m["content"]) for m in sent[2:]] == [(first, "A"), (second, "B")]


def test_a_history_repeating_an_id_in_one_message_still_pairs_results_in_order() -> None:
    uses = [{"type": "tool_use", "id": "call_0", "name": "Read", "input": {"file_path": p}} for p in "ab"]
    results = [{"type": "tool_result", "tool_use_id": "call_0", "content": text} for text in "AB"]
    history = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": uses},
        {"role": "user", "content": results},
    ]
    sent = to_openai(request(messages=history), route_for({"kind": "generic", "model": "m"})).body["messages"]
    ids = [c["id"] for c in sent[1]["tool_calls"]]
    assert ids == ["call_0", "call_0_2"]
    assert [(m["tool_call_id"], m["content"]) for m in sent[2:]] == [("call_0", "A"), ("call_0_2", "B")]


# -- property: any chunking of content mixing prose and every format streams the non-streaming message --

prose = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
formats = st.sampled_from(sorted(name for name in FORMATS if not name.startswith("bare")))


@st.composite
def contents(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return FORMATS[draw(st.sampled_from(["bare_json", "bare_json_parameters"]))][0]
    parts = [draw(prose)]
    for _ in range(draw(st.integers(0, 3))):
        parts += [FORMATS[draw(formats)][0], draw(prose)]
    return draw(st.sampled_from(["", "\n", " "])).join(parts)


def cuts(draw: st.DrawFn, data: str | bytes, most: int) -> list[Any]:
    points = sorted(draw(st.sets(st.integers(0, len(data)), max_size=most)))
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_chunking_of_text_calls_streams_the_non_streaming_message(data: st.DataObject) -> None:
    content = data.draw(contents())
    raw = sse(cuts(data.draw, content, 8))
    events = run_transcript(raw, CASE, cuts(data.draw, raw, 12))
    assert_well_formed(events)
    assert view(accumulate(events)) == view(answer(content))


def test_recovered_pieces_are_text_and_calls() -> None:
    pieces = recover_calls('ok <function=Read>{"file_path": "a"}</function>', {"Read": frozenset()})
    assert pieces == ["ok", TextCall("Read", {"file_path": "a"})]


def test_text_tool_calls_can_be_switched_off_from_the_config_file(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        '[providers.box]\nbase_url = "http://127.0.0.1:11434/v1"\n[providers.box.profile]\ntext_tool_calls = false\n',
    )
    profile = config.providers["box"].profile
    assert (profile.kind, profile.text_tool_calls, profile.mid_system_as_user) == ("ollama", False, True)


def test_an_unclosed_think_tag_makes_the_rest_reasoning_as_the_stream_does() -> None:
    # Found by the property above: the stream cannot take back thinking it sent, so the answer agrees.
    content = '<think><function=Bash>{"command": "git status"}</function>'
    assert view(answer(content))["content"] == [
        {"type": "thinking", "thinking": '<function=Bash>{"command": "git status"}</function>', "signature": "ppx1.e30"}
    ]
