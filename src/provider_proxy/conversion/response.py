"""OpenAI Chat Completions response -> Anthropic message (pure).

The helpers at the top (ids, stop reasons, usage, tool arguments) are shared with the streaming
translator, so both paths agree on every field.
"""

from __future__ import annotations

import random
import re
from typing import Any, Final

import orjson

from provider_proxy.conversion.request import Translation
from provider_proxy.conversion.signatures import (
    google_thought_signature,
    id_with_thought_signature,
    thinking_signature,
)
from provider_proxy.conversion.text_tools import TextCall, recover_calls
from provider_proxy.errors import UpstreamError
from provider_proxy.models.anthropic_output import ContentBlock, Message, StopReason, ToolUseContent, Usage
from provider_proxy.models.openai import ChatCompletion, Choice, ToolCall
from provider_proxy.models.openai import Usage as UpstreamUsage

# finish_reason -> stop_reason; one total table, `None` and unknown reasons end the turn.
STOP_REASONS: Final[dict[str | None, StopReason]] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
    "eos": "end_turn",
    None: "end_turn",
}
# An unclosed tag (output cut short) makes the rest reasoning, as the stream does: it cannot take back
# thinking it already sent.
_THINK = re.compile(r"^\s*<think>(.*?)(?:</think>\s*|\Z)", re.DOTALL)


# Ids need to be unique, not secret: the module PRNG (reseeded after fork) is ~10x cheaper than uuid4.


def message_id() -> str:
    return f"msg_{random.getrandbits(96):024x}"


def tool_use_id() -> str:
    return f"toolu_{random.getrandbits(96):024x}"


def stop_reason(finish_reason: str | None, has_tool_calls: bool) -> StopReason:
    reason = STOP_REASONS.get(finish_reason, "end_turn")
    # Several providers report "stop" for a turn that ends in tool calls.
    if has_tool_calls and reason == "end_turn":
        return "tool_use"
    return reason


def matched_stop_sequence(upstream_stop: str | int | None, stop_sequences: tuple[str, ...]) -> str | None:
    """The stop sequence that ended the completion, when the provider says which (vLLM does)."""
    if isinstance(upstream_stop, str) and upstream_stop in stop_sequences:
        return upstream_stop
    return None


def usage_fields(usage: UpstreamUsage | None, estimated_input: int = 0, estimated_output: int = 0) -> Usage:
    """Anthropic usage: `input_tokens` excludes the cache reads and writes, which OpenAI-style usage
    counts in prompt_tokens; both are reported on their own."""
    if usage is None:
        return {
            "input_tokens": estimated_input,
            "output_tokens": estimated_output,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
    read, written = usage.cache_read, usage.cache_write
    prompt = usage.prompt_tokens if usage.prompt_tokens is not None else estimated_input
    output = usage.completion_tokens if usage.completion_tokens is not None else estimated_output
    return {
        "input_tokens": max(prompt - read - written, 0),
        "output_tokens": output,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
    }


def parse_arguments(raw: str | dict[str, Any] | list[Any] | None) -> dict[str, Any]:
    """Tool-call arguments as an object; broken JSON is repaired where possible, else surfaced."""
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, list):
        return {"_arguments": raw}
    text = raw.strip()
    if not text:
        return {}
    for candidate in _repair_candidates(text):
        try:
            value = orjson.loads(candidate)
        except orjson.JSONDecodeError:
            continue
        return value if isinstance(value, dict) else {"_arguments": value}
    return {"_invalid_arguments": raw}


def _repair_candidates(text: str) -> list[str]:
    candidates = [text]
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
        candidates.append(text)
    trimmed = re.sub(r",\s*([}\]])", r"\1", text)
    candidates.append(trimmed)
    # Truncated output: close what is open.
    depth = trimmed.count("{") - trimmed.count("}")
    if depth > 0:
        closing = '"' if trimmed.count('"') % 2 else ""
        candidates.append(trimmed + closing + "}" * depth)
    return candidates


def split_think_tags(text: str) -> tuple[str | None, str]:
    """Models served without a reasoning parser put their reasoning inline in <think> tags."""
    found = _THINK.match(text)
    if not found:
        return None, text
    return found.group(1).strip(), text[found.end() :]


def unique_call_id(call_id: str | None, seen: set[str]) -> str:
    """The provider's id, or a fresh one when it sent none or repeated one within the answer (local
    servers number calls `call_0`...): ids go back in the history and must pair calls with results."""
    if not call_id or call_id in seen:
        call_id = tool_use_id()
    seen.add(call_id)
    return call_id


def tool_use_block(call: ToolCall, translation: Translation, seen: set[str]) -> ToolUseContent:
    function = call.function
    name = translation.names.original(function.name or "") if function else ""
    call_id = unique_call_id(call.id, seen)
    call_id = id_with_thought_signature(call_id, google_thought_signature(call.extra_content))
    return {
        "type": "tool_use",
        "id": call_id,
        "name": name,
        "input": parse_arguments(function.arguments if function else None),
    }


def content_text(content: str | list[Any] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    # Some providers (Mistral) answer with a list of typed parts.
    return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")


def thinking_from_parts(content: str | list[Any] | None) -> str | None:
    if not isinstance(content, list):
        return None
    texts: list[str] = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "thinking":
            inner = part.get("thinking")
            if isinstance(inner, list):
                texts.extend(str(p.get("text", "")) for p in inner if isinstance(p, dict))
            elif isinstance(inner, str):
                texts.append(inner)
    return "".join(texts) or None


def content_blocks(choice: Choice, translation: Translation) -> list[ContentBlock]:
    message = choice.message
    text = content_text(message.content)
    reasoning = message.reasoning_text or thinking_from_parts(message.content)
    if reasoning is None:
        reasoning, text = split_think_tags(text)
    blocks: list[ContentBlock] = []
    seen: set[str] = set()
    if reasoning:
        signature = thinking_signature(message.reasoning_details)
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": signature})
    if text and translation.text_tools:
        blocks.extend(_text_and_calls(text, translation, seen))
    elif text:
        blocks.append({"type": "text", "text": text})
    elif message.refusal:
        blocks.append({"type": "text", "text": message.refusal})
    blocks.extend(tool_use_block(call, translation, seen) for call in message.tool_calls or ())
    return blocks


def _text_and_calls(text: str, translation: Translation, seen: set[str]) -> list[ContentBlock]:
    """Content with the tool calls a local model wrote as text recovered (`conversion.text_tools`)."""
    assert translation.text_tools is not None
    blocks: list[ContentBlock] = []
    texts: list[str] = []
    for piece in [*recover_calls(text, translation.text_tools), None]:
        if isinstance(piece, str):
            texts.append(piece)
            continue
        if texts:
            blocks.append({"type": "text", "text": "".join(texts)})
            texts = []
        if isinstance(piece, TextCall):
            blocks.append(text_call_block(piece, translation, unique_call_id(None, seen)))
    return blocks


def text_call_block(call: TextCall, translation: Translation, call_id: str) -> ToolUseContent:
    return {"type": "tool_use", "id": call_id, "name": translation.names.original(call.name), "input": call.arguments}


def estimate_output_tokens(blocks: list[ContentBlock]) -> int:
    """About four characters a token: only used when the provider reports no usage."""
    chars = 0
    for block in blocks:
        match block["type"]:
            case "text":
                chars += len(block["text"])
            case "thinking":
                chars += len(block["thinking"])
            case "tool_use":
                chars += len(orjson.dumps(block["input"])) + len(block["name"])
    return -(-chars // 4)


def to_anthropic(
    completion: ChatCompletion, requested_model: str, translation: Translation, estimated_input: int = 0
) -> Message:
    if completion.error is not None or not completion.choices:
        detail = completion.error.message if completion.error else "no choices in the response"
        raise UpstreamError("api_error", f"Upstream provider returned no completion: {detail}", status=502)
    choice = completion.choices[0]
    if choice.finish_reason == "error":
        # OpenRouter reports a provider failure this way, with HTTP 200.
        raise UpstreamError("api_error", "Upstream provider ended the completion with an error", status=502)
    blocks = content_blocks(choice, translation)
    has_tools = any(block["type"] == "tool_use" for block in blocks)
    stop_sequence = matched_stop_sequence(choice.stop_reason, translation.stop_sequences)
    reason: StopReason = "stop_sequence" if stop_sequence else stop_reason(choice.finish_reason, has_tools)
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": requested_model,
        "content": blocks,
        "stop_reason": reason,
        "stop_sequence": stop_sequence,
        "usage": usage_fields(completion.usage, estimated_input, estimate_output_tokens(blocks)),
    }
