"""Input token counts for `/v1/messages/count_tokens`, computed locally (never a chat call).

The request is translated exactly as it would be sent upstream, and the translated text is
counted. Without a tokenizer for the routed model the count is an estimate: about four
characters per token for prose, with JSON (tool schemas, tool arguments) counted denser.
"""

from __future__ import annotations

import math

import orjson

from provider_proxy.conversion.request import to_openai
from provider_proxy.models.anthropic import CountTokensRequest, MessagesRequest
from provider_proxy.services.routing import Route

_PER_MESSAGE = 4
_PER_TOOL = 8
_CHARS_PER_TOKEN = 4.0
_JSON_CHARS_PER_TOKEN = 3.0


def _text_tokens(text: str) -> int:
    return math.ceil(len(text) / _CHARS_PER_TOKEN)


def count_request_tokens(request: CountTokensRequest, route: Route) -> int:
    as_messages = MessagesRequest(
        model=request.model,
        messages=request.messages,
        max_tokens=1,
        system=request.system,
        tools=request.tools,
        tool_choice=request.tool_choice,
        thinking=request.thinking,
    )
    body = to_openai(as_messages, route).body
    total = 3
    for message in body["messages"]:
        total += _PER_MESSAGE
        content = message.get("content")
        if isinstance(content, str):
            total += _text_tokens(content)
        elif isinstance(content, list):
            for part in content:
                total += _text_tokens(part["text"]) if part.get("type") == "text" else 1_000
        for call in message.get("tool_calls", ()):
            total += math.ceil(len(orjson.dumps(call["function"])) / _JSON_CHARS_PER_TOKEN)
    for tool in body.get("tools", ()):
        total += _PER_TOOL + math.ceil(len(orjson.dumps(tool["function"])) / _JSON_CHARS_PER_TOKEN)
    return total
