"""OpenAI Responses API answer -> Anthropic message (pure).

- `reasoning` items -> `thinking` blocks: the summary (or the reasoning text some servers send) is
  the thinking text, and the signature carries the item's `encrypted_content` for the next turn. A
  reasoning item with no summary still becomes a block (empty text) when it has encrypted content,
  so the chain is not lost.
- `message` items -> one `text` block each (`output_text` and `refusal` parts joined).
- `function_call` items -> `tool_use` blocks (`call_id` as the id, arguments parsed and repaired as
  for Chat Completions, long tool names mapped back).
- `web_search_call` items (the provider's own search, `native_web_search`) -> a `server_tool_use`
  block with the query and a `web_search_tool_result` block listing the sources, as Anthropic answers
  its web search; `usage.server_tool_use.web_search_requests` counts them.
- status and `incomplete_details.reason` -> stop_reason (one table); `failed`/`cancelled` and error
  objects -> an `UpstreamError` typed by the error's code.
- usage: `input_tokens` counts cached tokens, Anthropic's does not: cached tokens move to
  `cache_read_input_tokens`; `output_tokens` (reasoning included) passes.

The helpers are shared with the streaming translator (`conversion.responses_stream`), so both paths
produce the same message.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from provider_proxy.conversion.response import (
    estimate_output_tokens,
    message_id,
    parse_arguments,
    unique_call_id,
)
from provider_proxy.conversion.responses_request import ResponsesTranslation
from provider_proxy.conversion.server_tools import SEARCH_TOOL, SearchHit, result_block, server_tool_use_id
from provider_proxy.conversion.signatures import thinking_signature
from provider_proxy.conversion.upstream_api import as_utf8
from provider_proxy.errors import UpstreamError, not_an_answer
from provider_proxy.models.anthropic_output import (
    ContentBlock,
    ErrorType,
    Message,
    StopReason,
    ThinkingContent,
    ToolUseContent,
    Usage,
)
from provider_proxy.models.openai_responses import OutputItem, Response, ResponseError
from provider_proxy.models.openai_responses import Usage as UpstreamUsage
from provider_proxy.utils.logging import redact

# What a `srvtoolu_` id may not contain (Claude Code checks `^[\w-]{1,128}$`).
_ID_UNSAFE: Final = re.compile(r"[^\w-]")
# incomplete_details.reason -> stop_reason; anything else that cut the answer short ends the turn.
INCOMPLETE_REASONS: Final[dict[str | None, StopReason]] = {
    "max_output_tokens": "max_tokens",
    "content_filter": "refusal",
}
# Error codes of a failed response -> (Anthropic error type, worth another attempt). Codes not here
# are the provider's trouble: api_error, retryable.
_ERROR_CODES: Final[dict[str, tuple[ErrorType, bool]]] = {
    "rate_limit_exceeded": ("rate_limit_error", True),
    "insufficient_quota": ("rate_limit_error", False),
    "server_error": ("api_error", True),
    "vector_store_timeout": ("api_error", True),
    "invalid_prompt": ("invalid_request_error", False),
    "context_length_exceeded": ("invalid_request_error", False),
}
_REQUEST_PROBLEM_PREFIXES: Final = ("invalid_", "image_", "unsupported_", "empty_", "failed_to_download")
_decoder = msgspec.json.Decoder(Response)


def failure(code: str | int | None, message: str | None, secrets: tuple[str, ...] = ()) -> UpstreamError:
    """The error a failed response or an `error` event reports, typed by its code."""
    detail = redact(message or "unknown error", secrets)
    error_type, retryable = _error_kind(code)
    shown = f" (code {code})" if code is not None else ""
    return UpstreamError(error_type, f"Upstream provider failed the response: {detail}{shown}", retryable=retryable)


def _error_kind(code: str | int | None) -> tuple[ErrorType, bool]:
    if isinstance(code, int):
        return ("invalid_request_error", False) if 400 <= code < 500 and code != 429 else ("api_error", True)
    if code is None:
        return "api_error", True
    if code in _ERROR_CODES:
        return _ERROR_CODES[code]
    if code.startswith(_REQUEST_PROBLEM_PREFIXES):
        return "invalid_request_error", False
    return "api_error", True


def response_failure(error: ResponseError | None, status: str | None, secrets: tuple[str, ...] = ()) -> UpstreamError:
    if error is None:
        return failure(None, f"the response ended with status {status or 'unknown'}", secrets)
    return failure(error.code, error.message, secrets)


def decode_response(raw: bytes, secrets: tuple[str, ...] = ()) -> Response:
    """A 200 answer's body as a response; a body that is not one, or a failed response, raises
    `UpstreamError` (retryable where another attempt may succeed)."""
    try:
        response = _decoder.decode(raw)
    except msgspec.DecodeError:
        replaced = as_utf8(raw)
        if replaced is not None:
            return decode_response(replaced, secrets)
        raise not_an_answer("a Responses API response", raw, secrets) from None
    if response.status in ("failed", "cancelled") or (response.error is not None and not response.output):
        raise response_failure(response.error, response.status, secrets)
    return response


def stop_reason(incomplete_reason: str | None, incomplete: bool, has_tool_calls: bool, refused: bool) -> StopReason:
    if incomplete:
        reason = INCOMPLETE_REASONS.get(incomplete_reason, "end_turn")
        if reason != "end_turn":
            return reason
    if has_tool_calls:
        return "tool_use"
    return "refusal" if refused else "end_turn"


def response_stop_reason(response: Response, has_tool_calls: bool, refused: bool) -> StopReason:
    details = response.incomplete_details
    incomplete = response.status == "incomplete"
    return stop_reason(details.reason if details else None, incomplete, has_tool_calls, refused)


def usage_fields(usage: UpstreamUsage | None, estimated_input: int = 0, estimated_output: int = 0) -> Usage:
    cached = usage.cached_tokens if usage else 0
    given_input = usage.input_tokens if usage else None
    given_output = usage.output_tokens if usage else None
    prompt = given_input if given_input is not None else estimated_input
    return {
        "input_tokens": max(prompt - cached, 0),
        "output_tokens": given_output if given_output is not None else estimated_output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def reasoning_text(item: OutputItem) -> str:
    """The summary parts (joined by a blank line), else the reasoning text some servers send instead."""
    summary = [part.text for part in item.summary or () if part.text]
    if summary:
        return "\n\n".join(summary)
    return "".join(part.text or "" for part in item.content or () if part.type == "reasoning_text")


def message_text(item: OutputItem) -> tuple[str, bool]:
    """The text of a message item, and whether it is (or holds) a refusal."""
    texts: list[str] = []
    refused = False
    for part in item.content or ():
        if part.type == "refusal":
            refused = True
            texts.append(part.refusal or "")
        elif part.text:
            texts.append(part.text)
    return "".join(texts), refused


def thinking_block(item: OutputItem) -> ThinkingContent | None:
    text = reasoning_text(item)
    if not text and not item.encrypted_content:
        return None
    return {"type": "thinking", "thinking": text, "signature": thinking_signature(None, item.encrypted_content)}


def tool_use_block(item: OutputItem, translation: ResponsesTranslation, seen: set[str]) -> ToolUseContent:
    return {
        "type": "tool_use",
        "id": unique_call_id(item.call_id or item.id, seen),
        "name": translation.names.original(item.name or ""),
        "input": parse_arguments(item.arguments),
    }


def content_blocks(response: Response, translation: ResponsesTranslation) -> tuple[list[ContentBlock], bool]:
    """The message's blocks, and whether the model refused."""
    blocks: list[ContentBlock] = []
    seen: set[str] = set()
    refused = False
    for item in response.output:
        if item.type == "reasoning":
            thinking = thinking_block(item)
            if thinking is not None:
                blocks.append(thinking)
        elif item.type == "message":
            text, refusal = message_text(item)
            refused = refused or refusal
            if text:
                blocks.append({"type": "text", "text": text})
        elif item.type == "function_call":
            blocks.append(tool_use_block(item, translation, seen))
        elif item.type == "web_search_call":
            blocks += hosted_search_blocks(item)
    return blocks, refused


def hosted_search_blocks(item: OutputItem) -> list[ContentBlock]:
    """A search the provider ran, as Anthropic shows one; other actions (opening a page) show nothing."""
    action = item.action
    if action is None or action.type != "search":
        return []
    query = action.query or next(iter(action.queries or ()), "")
    use_id = f"srvtoolu_{_ID_UNSAFE.sub('_', item.id)[:100]}" if item.id else server_tool_use_id()
    hits = [SearchHit(source.url, source.url) for source in action.sources or () if source.url]
    return [
        {"type": "server_tool_use", "id": use_id, "name": SEARCH_TOOL, "input": {"query": query}},
        result_block(use_id, hits),
    ]


def with_searches(usage: Usage, blocks: list[ContentBlock]) -> Usage:
    """The usage, with the searches the provider ran counted as Anthropic counts its own."""
    searches = sum(1 for block in blocks if block["type"] == "server_tool_use")
    return {**usage, "server_tool_use": {"web_search_requests": searches}} if searches else usage


def to_anthropic(
    response: Response, requested_model: str, translation: ResponsesTranslation, estimated_input: int = 0
) -> Message:
    blocks, refused = content_blocks(response, translation)
    has_tools = any(block["type"] == "tool_use" for block in blocks)
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": requested_model,
        "content": blocks,
        "stop_reason": response_stop_reason(response, has_tools, refused),
        "stop_sequence": None,
        "usage": with_searches(usage_fields(response.usage, estimated_input, estimate_output_tokens(blocks)), blocks),
    }
