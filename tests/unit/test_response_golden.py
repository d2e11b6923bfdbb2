"""Upstream completion -> expected Anthropic message, one fixture directory per behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from provider_proxy.conversion.request import to_openai
from provider_proxy.conversion.response import to_anthropic
from provider_proxy.errors import UpstreamError
from provider_proxy.models.anthropic import MessagesRequest
from provider_proxy.models.openai import ChatCompletion
from tests.unit.golden import FIXTURES, check_golden, load, route_for

CASES = sorted(p for p in (FIXTURES / "responses").iterdir() if (p / "upstream.json").exists())
PLAIN_REQUEST = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": "x"}]}


def translate(case: Path) -> dict[str, Any]:
    raw_request = load(case / "request.json") if (case / "request.json").exists() else PLAIN_REQUEST
    request = msgspec.convert(raw_request, MessagesRequest)
    translation = to_openai(request, route_for({"kind": "generic", "model": "up"}))
    completion = msgspec.json.decode((case / "upstream.json").read_bytes(), type=ChatCompletion)
    return to_anthropic(completion, request.model, translation)


@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_completion_translates_to_expected_message(case: Path) -> None:
    message = translate(case)
    assert message["id"].startswith("msg_") and len(message["id"]) == 28
    for block in message["content"]:
        if block["type"] == "tool_use" and block["id"].startswith("toolu_"):
            block["id"] = "toolu_GENERATED"
    check_golden(case / "expected_message.json", {**message, "id": "msg_GENERATED"})


def test_upstream_error_object_with_status_200_is_an_api_error() -> None:
    completion = msgspec.convert({"error": {"message": "provider overloaded", "code": 502}}, ChatCompletion)
    request = msgspec.convert(PLAIN_REQUEST, MessagesRequest)
    translation = to_openai(request, route_for({"kind": "generic", "model": "up"}))
    with pytest.raises(UpstreamError, match="provider overloaded") as caught:
        to_anthropic(completion, request.model, translation)
    assert caught.value.error_type == "api_error"


def test_finish_reason_error_with_status_200_is_an_api_error() -> None:
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "error"}]}
    completion = msgspec.convert(body, ChatCompletion)
    request = msgspec.convert(PLAIN_REQUEST, MessagesRequest)
    translation = to_openai(request, route_for({"kind": "openrouter", "model": "up"}))
    with pytest.raises(UpstreamError, match="ended the completion with an error"):
        to_anthropic(completion, request.model, translation)
