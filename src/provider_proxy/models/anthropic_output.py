"""What the proxy answers in Anthropic's shapes: the message, its content blocks, the stream events and
the error body.

TypedDicts, so mypy checks every event and message the translators build while the values stay plain
dicts that go straight to orjson (no conversion on the hot path). Unions are tagged on `type`, and a
`match` or `==` on it narrows them.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

# Anthropic's error types; the status each one is served with is in `errors.ERROR_STATUS`.
ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "timeout_error",
    "overloaded_error",
]
StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"]


class ErrorDetail(TypedDict):
    type: ErrorType
    message: str


class ErrorBody(TypedDict):
    """The body of every error response, and the `error` stream event."""

    type: Literal["error"]
    error: ErrorDetail


class ServerToolUsage(TypedDict):
    web_search_requests: int


class Usage(TypedDict):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    # Only in answers where the proxy ran server tools (web search) for the model.
    server_tool_use: NotRequired[ServerToolUsage]


class TextContent(TypedDict):
    type: Literal["text"]
    text: str


class ThinkingContent(TypedDict):
    type: Literal["thinking"]
    thinking: str
    signature: str


class ToolUseContent(TypedDict):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class ServerToolUseContent(TypedDict):
    type: Literal["server_tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class WebSearchResultContent(TypedDict):
    type: Literal["web_search_result"]
    url: str
    title: str
    encrypted_content: str
    page_age: str | None


WebSearchErrorCode = Literal[
    "invalid_tool_input", "unavailable", "max_uses_exceeded", "too_many_requests", "query_too_long"
]


class WebSearchErrorContent(TypedDict):
    type: Literal["web_search_tool_result_error"]
    error_code: WebSearchErrorCode


class WebSearchToolResultContent(TypedDict):
    type: Literal["web_search_tool_result"]
    tool_use_id: str
    content: list[WebSearchResultContent] | WebSearchErrorContent


ContentBlock = TextContent | ThinkingContent | ToolUseContent | ServerToolUseContent | WebSearchToolResultContent


class Message(TypedDict):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[ContentBlock]
    stop_reason: StopReason | None
    stop_sequence: str | None
    usage: Usage


class TextDelta(TypedDict):
    type: Literal["text_delta"]
    text: str


class ThinkingDelta(TypedDict):
    type: Literal["thinking_delta"]
    thinking: str


class SignatureDelta(TypedDict):
    type: Literal["signature_delta"]
    signature: str


class InputJsonDelta(TypedDict):
    type: Literal["input_json_delta"]
    partial_json: str


BlockDelta = TextDelta | ThinkingDelta | SignatureDelta | InputJsonDelta


class MessageStartEvent(TypedDict):
    type: Literal["message_start"]
    message: Message


class ContentBlockStartEvent(TypedDict):
    type: Literal["content_block_start"]
    index: int
    content_block: ContentBlock


class ContentBlockDeltaEvent(TypedDict):
    type: Literal["content_block_delta"]
    index: int
    delta: BlockDelta


class ContentBlockStopEvent(TypedDict):
    type: Literal["content_block_stop"]
    index: int


class MessageDeltaBody(TypedDict):
    stop_reason: StopReason
    stop_sequence: str | None


class MessageDeltaEvent(TypedDict):
    type: Literal["message_delta"]
    delta: MessageDeltaBody
    usage: Usage


class MessageStopEvent(TypedDict):
    type: Literal["message_stop"]


class PingEvent(TypedDict):
    type: Literal["ping"]


StreamEvent = (
    MessageStartEvent
    | ContentBlockStartEvent
    | ContentBlockDeltaEvent
    | ContentBlockStopEvent
    | MessageDeltaEvent
    | MessageStopEvent
    | PingEvent
    | ErrorBody
)


class ModelInfo(TypedDict):
    """One entry of `GET /v1/models` (Anthropic's Models API), with the routed model's limits."""

    type: Literal["model"]
    id: str
    display_name: str
    created_at: str
    lifecycle: Literal["active"]
    max_input_tokens: int | None
    # Anthropic's name for the output limit; `max_output_tokens` says the same.
    max_tokens: int
    max_output_tokens: int


class ModelList(TypedDict):
    data: list[ModelInfo]
    first_id: str | None
    last_id: str | None
    has_more: bool
