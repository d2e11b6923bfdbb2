"""Anthropic Messages API request shapes, as the proxy receives them.

Inbound types are lenient: unknown fields are ignored (msgspec's default), so a client that adds a
field next month still gets an answer. Content blocks are a union tagged on `type`; block types the
proxy has no use for are removed before typed decoding (see `api.body`).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

JSONObject = dict[str, Any]


class CacheControlled(msgspec.Struct, kw_only=True, omit_defaults=True):
    cache_control: JSONObject | None = None


class Base64Source(msgspec.Struct, tag="base64", kw_only=True):
    media_type: str
    data: str


class URLSource(msgspec.Struct, tag="url", kw_only=True):
    url: str


class TextSource(msgspec.Struct, tag="text", kw_only=True):
    data: str
    media_type: str = "text/plain"


class FileSource(msgspec.Struct, tag="file", kw_only=True):
    file_id: str


class ContentSource(msgspec.Struct, tag="content", kw_only=True):
    content: str | list[JSONObject]


ImageSource = Base64Source | URLSource | FileSource
DocumentSource = Base64Source | URLSource | TextSource | FileSource | ContentSource


class TextBlock(CacheControlled, tag="text", kw_only=True):
    text: str


class ImageBlock(CacheControlled, tag="image", kw_only=True):
    source: ImageSource


class DocumentBlock(CacheControlled, tag="document", kw_only=True):
    source: DocumentSource
    title: str | None = None


class ToolUseBlock(CacheControlled, tag="tool_use", kw_only=True):
    id: str
    name: str
    input: Any = msgspec.field(default_factory=dict)


class ToolReferenceBlock(msgspec.Struct, tag="tool_reference", kw_only=True):
    tool_name: str


class SearchResultBlock(CacheControlled, tag="search_result", kw_only=True):
    source: str = ""
    title: str = ""
    content: list[TextBlock] = msgspec.field(default_factory=list)


ToolResultPart = TextBlock | ImageBlock | DocumentBlock | ToolReferenceBlock | SearchResultBlock


class ToolResultBlock(CacheControlled, tag="tool_result", kw_only=True):
    tool_use_id: str
    content: str | list[ToolResultPart] | None = None
    is_error: bool = False


class ThinkingBlock(msgspec.Struct, tag="thinking", kw_only=True):
    thinking: str
    signature: str | None = None


class RedactedThinkingBlock(msgspec.Struct, tag="redacted_thinking", kw_only=True):
    data: str = ""


class ServerToolUseBlock(CacheControlled, tag="server_tool_use", kw_only=True):
    """A server tool's call (web search) in an assistant turn, as Anthropic (or this proxy) answered it."""

    id: str
    name: str
    input: Any = msgspec.field(default_factory=dict)


class WebSearchResult(msgspec.Struct, tag="web_search_result", kw_only=True):
    url: str
    title: str = ""
    # Opaque to clients; the proxy's own results carry the snippet here (`conversion.server_tools`).
    encrypted_content: str = ""
    page_age: str | None = None


class WebSearchToolResultError(msgspec.Struct, tag="web_search_tool_result_error", kw_only=True):
    error_code: str


class WebSearchToolResultBlock(CacheControlled, tag="web_search_tool_result", kw_only=True):
    tool_use_id: str
    content: list[WebSearchResult] | WebSearchToolResultError = msgspec.field(default_factory=list)


ContentBlock = (
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | SearchResultBlock
    | ServerToolUseBlock
    | WebSearchToolResultBlock
)

# The block types `ContentBlock` can decode; anything else is dropped before typed decoding.
KNOWN_BLOCK_TYPES = frozenset(
    {
        "text",
        "image",
        "document",
        "tool_use",
        "tool_result",
        "thinking",
        "redacted_thinking",
        "search_result",
        "server_tool_use",
        "web_search_tool_result",
    }
)
KNOWN_TOOL_RESULT_PART_TYPES = frozenset({"text", "image", "document", "tool_reference", "search_result"})


class Message(msgspec.Struct, kw_only=True):
    role: Literal["user", "assistant", "system"]
    content: str | list[ContentBlock]


class Tool(msgspec.Struct, kw_only=True):
    """A client tool (has `input_schema`) or a server tool (has a versioned `type`, no schema)."""

    name: str
    description: str | None = None
    input_schema: JSONObject | None = None
    type: str | None = None
    defer_loading: bool = False
    cache_control: JSONObject | None = None
    # Server tools only (web search): how often it may run in one answer, and which domains it may show.
    max_uses: int | None = None
    allowed_domains: list[str] | None = None
    blocked_domains: list[str] | None = None

    @property
    def is_client_tool(self) -> bool:
        return self.input_schema is not None and self.type in (None, "custom")


class ToolChoice(msgspec.Struct, kw_only=True):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool = False


class Thinking(msgspec.Struct, kw_only=True):
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: int | None = None


class OutputFormat(msgspec.Struct, kw_only=True):
    type: str
    schema: JSONObject | None = None


class OutputConfig(msgspec.Struct, kw_only=True):
    effort: str | None = None
    # Structured output: {"type": "json_schema", "schema": {...}} (Claude Code's background requests).
    format: OutputFormat | None = None


class ContextEdit(msgspec.Struct, kw_only=True):
    type: str
    keep: Any = None


class ContextManagement(msgspec.Struct, kw_only=True):
    edits: list[ContextEdit] = msgspec.field(default_factory=list)


class Metadata(msgspec.Struct, kw_only=True):
    user_id: str | None = None


class MessagesRequest(msgspec.Struct, kw_only=True):
    model: str
    messages: list[Message]
    max_tokens: int
    system: str | list[TextBlock] | None = None
    stop_sequences: list[str] | None = None
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None
    output_config: OutputConfig | None = None
    context_management: ContextManagement | None = None
    metadata: Metadata | None = None


class CountTokensRequest(msgspec.Struct, kw_only=True):
    """`/v1/messages/count_tokens` takes the same body without `max_tokens`."""

    model: str
    messages: list[Message]
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None
