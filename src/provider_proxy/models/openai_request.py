"""The OpenAI Chat Completions request the proxy sends upstream.

TypedDicts: mypy checks what the translator builds, and the value is the plain dict the JSON encoder
takes. Optional keys are `NotRequired`: the translator sends only what the client asked for or the
provider needs (never an invented `temperature`).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class TextPart(TypedDict):
    type: Literal["text"]
    text: str
    # A prompt-caching breakpoint, kept for providers that honour it (`ProviderProfile.cache_control`).
    cache_control: NotRequired[dict[str, Any]]


class ImageURL(TypedDict):
    url: str
    detail: NotRequired[str]


class ImagePart(TypedDict):
    type: Literal["image_url"]
    image_url: ImageURL
    cache_control: NotRequired[dict[str, Any]]


class FileData(TypedDict):
    filename: str
    file_data: str


class FilePart(TypedDict):
    type: Literal["file"]
    file: FileData


ContentPart = TextPart | ImagePart | FilePart


class FunctionCall(TypedDict):
    name: str
    arguments: str


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall
    # Gemini 3: {"google": {"thought_signature": ...}} echoed with each call.
    extra_content: NotRequired[dict[str, Any]]


class SystemMessage(TypedDict):
    role: Literal["system"]
    # Text parts only where a part carries a cache breakpoint.
    content: str | list[TextPart]


class UserMessage(TypedDict):
    role: Literal["user"]
    content: str | list[ContentPart]


class AssistantMessage(TypedDict):
    role: Literal["assistant"]
    content: str | None
    tool_calls: NotRequired[list[ToolCall]]
    # DeepSeek's thinking mode wants the reasoning back on tool-calling turns.
    reasoning_content: NotRequired[str]
    # OpenRouter's reasoning details, restored from the thinking block's signature.
    reasoning_details: NotRequired[list[Any]]
    # Mistral: this last assistant message is a prefix the answer continues (a prefill).
    prefix: NotRequired[bool]


class ToolMessage(TypedDict):
    role: Literal["tool"]
    tool_call_id: str
    # Parts where the provider takes no user message after tool messages (Mistral, whose tool messages
    # take content chunks: the user's images then join the tool message), or one text part where the
    # result carries a cache breakpoint.
    content: str | list[ContentPart]


ChatMessage = SystemMessage | UserMessage | AssistantMessage | ToolMessage


class Function(TypedDict):
    name: str
    description: NotRequired[str]
    parameters: dict[str, Any]


class FunctionTool(TypedDict):
    type: Literal["function"]
    function: Function


class NamedFunction(TypedDict):
    name: str


class NamedToolChoice(TypedDict):
    type: Literal["function"]
    function: NamedFunction


ToolChoice = Literal["auto", "none", "required"] | NamedToolChoice


class StreamOptions(TypedDict):
    include_usage: bool


class JsonSchemaFormat(TypedDict):
    name: str
    schema: dict[str, Any]


class ResponseFormat(TypedDict):
    type: Literal["json_schema"]
    json_schema: JsonSchemaFormat


class ReasoningControl(TypedDict, total=False):
    """OpenRouter's `reasoning` object: one of effort, max_tokens or enabled."""

    effort: str
    max_tokens: int
    enabled: bool


class ChatRequest(TypedDict):
    model: str
    messages: list[ChatMessage]
    max_tokens: NotRequired[int]
    max_completion_tokens: NotRequired[int]
    temperature: NotRequired[float]
    top_p: NotRequired[float]
    top_k: NotRequired[int]
    stop: NotRequired[list[str]]
    user: NotRequired[str]
    tools: NotRequired[list[FunctionTool]]
    tool_choice: NotRequired[ToolChoice]
    parallel_tool_calls: NotRequired[bool]
    reasoning_effort: NotRequired[str]
    reasoning: NotRequired[ReasoningControl]
    response_format: NotRequired[ResponseFormat]
    stream: NotRequired[bool]
    stream_options: NotRequired[StreamOptions]
