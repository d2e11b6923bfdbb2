"""What a routed model cannot do: images to a model that cannot see are left out with a note; tools
to a model that cannot call them are refused with a clear error (a fallback may take the request)."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import pytest

from provider_proxy.conversion.request import to_openai
from provider_proxy.errors import TargetUnfit
from provider_proxy.models.anthropic import MessagesRequest
from tests.unit.golden import route_for

IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}


def request(messages: list[dict[str, Any]], **fields: Any) -> MessagesRequest:
    return msgspec.convert(
        {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": messages, **fields}, MessagesRequest
    )


def route(vision: bool | None = None, tool_calling: bool | None = None):  # type: ignore[no-untyped-def]
    base = route_for({"kind": "generic", "model": "text-only"})
    return dataclasses.replace(base, facts=dataclasses.replace(base.facts, vision=vision, tool_calling=tool_calling))


def test_images_to_a_model_that_cannot_see_become_notes() -> None:
    body = request(
        [
            {"role": "user", "content": [IMAGE, {"type": "text", "text": "what is this?"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Shot", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [IMAGE]}]},
        ],
        tools=[{"name": "Shot", "input_schema": {"type": "object"}}],
    )
    translation = to_openai(body, route(vision=False))
    messages = translation.body["messages"]
    assert "image_url" not in str(messages)
    assert "left out because this model cannot see images" in messages[0]["content"]
    assert "left out because this model cannot see images" in messages[-1]["content"]
    assert translation.notes == ("left out 2 image(s): test/text-only cannot see images",)


@pytest.mark.parametrize("vision", [True, None])
def test_images_go_to_a_model_that_sees_or_may_see(vision: bool | None) -> None:
    body = request([{"role": "user", "content": [IMAGE, {"type": "text", "text": "what is this?"}]}])
    assert "image_url" in str(to_openai(body, route(vision=vision)).body["messages"])


def test_tools_to_a_model_that_cannot_call_them_are_refused_clearly() -> None:
    body = request([{"role": "user", "content": "hi"}], tools=[{"name": "Read", "input_schema": {"type": "object"}}])
    with pytest.raises(TargetUnfit) as caught:
        to_openai(body, route(tool_calling=False))
    assert caught.value.status == 400
    assert "test/text-only cannot call tools" in caught.value.message
    assert "tools" in to_openai(body, route(tool_calling=None)).body
    assert "tools" not in to_openai(request([{"role": "user", "content": "hi"}]), route(tool_calling=False)).body
