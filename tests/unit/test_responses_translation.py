"""Anthropic request -> Responses API request, and Responses API answer -> Anthropic message, against
golden fixtures in `tests/fixtures/responses_api/` (`translation/<case>`: request.json, route.json,
expected_upstream.json; `answers/<case>`: upstream.json, expected_message.json). The openai SDK's
types check that every body sent and every answer fixture has the shape OpenAI documents."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import pytest
from openai.types.responses.response_create_params import ResponseCreateParamsStreaming
from pydantic import TypeAdapter

from provider_proxy.conversion.responses_request import to_responses
from provider_proxy.conversion.responses_response import decode_response, to_anthropic
from provider_proxy.conversion.signatures import thinking_signature
from provider_proxy.errors import TargetUnfit, UpstreamError
from provider_proxy.models.anthropic import MessagesRequest
from tests.support import responses_api as api
from tests.unit.golden import FIXTURES, check_golden, load, route_for

ROOT = FIXTURES / "responses_api"
REQUESTS = sorted(p for p in (ROOT / "translation").iterdir() if (p / "request.json").exists())
ANSWERS = sorted(p for p in (ROOT / "answers").iterdir() if (p / "upstream.json").exists())
PLAIN = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": "x"}]}
TOOLS = ["Read", "mcp__workspace_tools__search_every_repository_for_a_symbol_and_summarise_the_results"]
_create_params = TypeAdapter(ResponseCreateParamsStreaming)


def translate(raw: dict[str, Any], route: dict[str, Any]) -> dict[str, Any]:
    request = msgspec.convert(raw, MessagesRequest)
    return dict(to_responses(request, route_for(route, request.model)).body)


@pytest.mark.parametrize("case", REQUESTS, ids=[p.name for p in REQUESTS])
def test_request_translates_to_the_expected_responses_body(case: Path) -> None:
    body = translate(load(case / "request.json"), load(case / "route.json"))
    check_golden(case / "expected_upstream.json", body)


@pytest.mark.parametrize("case", REQUESTS, ids=[p.name for p in REQUESTS])
def test_every_responses_body_has_the_shape_the_openai_sdk_sends(case: Path) -> None:
    """The SDK's type wants an `id` on a replayed reasoning item; under `store: false` the API refuses
    one it cannot look up, and takes the item by its encrypted content alone. So the check adds one."""
    body = translate(load(case / "request.json"), load(case / "route.json"))
    items = [{**item, "id": "rs_x"} if item["type"] == "reasoning" else item for item in body["input"]]
    _create_params.validate_python({**body, "input": items, "stream": True}, strict=False)


def test_reasoning_is_replayed_in_place_without_ids_and_others_thinking_is_left_out() -> None:
    case = ROOT / "translation" / "reasoning_model_tool_turn_replays_reasoning"
    body = translate(load(case / "request.json"), load(case / "route.json"))
    kinds = [item["type"] for item in body["input"]]
    assert kinds[:5] == ["message", "reasoning", "message", "function_call", "function_call"]
    reasoning = body["input"][1]
    assert reasoning == {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "Read the file first."}],
        "encrypted_content": "gAAAA-prev-turn",
    }
    assert body["store"] is False and body["include"] == [
        "web_search_call.action.sources",
        "reasoning.encrypted_content",
    ]


def test_cleared_thinking_turns_are_not_replayed() -> None:
    signed = {"type": "thinking", "thinking": "t", "signature": thinking_signature(None, "gAAAA-old")}
    turn = {"role": "assistant", "content": [signed, {"type": "text", "text": "a"}]}
    messages = [{"role": "user", "content": "1"}, turn, {"role": "user", "content": "2"}, turn]
    clear = {"edits": [{"type": "clear_thinking_20251015", "keep": {"type": "thinking_turns", "value": 1}}]}
    body = translate({**PLAIN, "messages": messages, "context_management": clear}, {"kind": "openai", "model": "gpt-5"})
    assert [item["type"] for item in body["input"]] == ["message", "message", "message", "reasoning", "message"]


def test_a_repeated_tool_use_id_gets_a_unique_call_id_and_its_result_follows_in_order() -> None:
    calls = [{"type": "tool_use", "id": "call_0", "name": "Read", "input": {"n": n}} for n in (1, 2)]
    results = [{"type": "tool_result", "tool_use_id": "call_0", "content": f"r{n}"} for n in (1, 2)]
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": calls},
        {"role": "user", "content": results},
    ]
    body = translate({**PLAIN, "messages": messages}, {"kind": "openai", "model": "gpt-5"})
    pairs = [(item.get("call_id"), item.get("output")) for item in body["input"][1:]]
    assert pairs == [("call_0", None), ("call_0_2", None), ("call_0", "r1"), ("call_0_2", "r2")]


def test_a_model_that_cannot_call_tools_is_unfit_for_a_request_with_tools() -> None:
    request = msgspec.convert(
        {**PLAIN, "tools": [{"name": "Read", "input_schema": {"type": "object"}}]}, MessagesRequest
    )
    route = route_for({"kind": "openai", "model": "gpt-5"})
    route = replace(route, facts=replace(route.facts, tool_calling=False))
    with pytest.raises(TargetUnfit, match="cannot call tools"):
        to_responses(request, route)


def test_stop_sequences_are_dropped_with_a_note() -> None:
    request = msgspec.convert({**PLAIN, "stop_sequences": ["END"]}, MessagesRequest)
    translation = to_responses(request, route_for({"kind": "openai", "model": "gpt-4.1"}))
    assert "stop" not in translation.body
    assert any("stop_sequences" in note for note in translation.notes)


# -- answers --


@pytest.mark.parametrize("case", ANSWERS, ids=[p.name for p in ANSWERS])
def test_responses_answer_translates_to_the_expected_message(case: Path) -> None:
    upstream = load(case / "upstream.json")
    api.validate_response(upstream)
    request = msgspec.convert(PLAIN, MessagesRequest)
    translation = to_responses(request, route_for({"kind": "openai", "model": "gpt-5"}))
    translation = type(translation)(translation.body, type(translation.names)(TOOLS), ())
    message = to_anthropic(decode_response((case / "upstream.json").read_bytes()), request.model, translation)
    assert message["id"].startswith("msg_")
    check_golden(case / "expected_message.json", {**message, "id": "msg_GENERATED"})


@pytest.mark.parametrize(
    ("error", "error_type", "retryable"),
    [
        ({"code": "server_error", "message": "boom"}, "api_error", True),
        ({"code": "rate_limit_exceeded", "message": "slow down"}, "rate_limit_error", True),
        ({"code": "invalid_image_url", "message": "bad image"}, "invalid_request_error", False),
    ],
)
def test_a_failed_response_is_an_upstream_error_typed_by_its_code(
    error: dict[str, Any], error_type: str, retryable: bool
) -> None:
    body = msgspec.json.encode(api.response([], status="failed", error=error))
    with pytest.raises(UpstreamError, match=error["message"]) as caught:
        decode_response(body)
    assert caught.value.error_type == error_type and caught.value.retryable is retryable


def test_a_body_that_is_not_a_response_is_a_retryable_api_error_without_the_key() -> None:
    with pytest.raises(UpstreamError, match="not a Responses API response") as caught:
        decode_response(b"<html>sk-secret-key</html>", ("sk-secret-key",))
    assert caught.value.retryable and "sk-secret-key" not in caught.value.message
