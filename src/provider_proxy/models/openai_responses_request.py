"""The OpenAI Responses API request the proxy sends upstream (`POST /responses`).

TypedDicts, as for Chat Completions (`openai_request`): mypy checks what the translator builds and
the value is the plain dict the JSON encoder takes. Only what the client asked for or the provider
needs is sent.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class InputText(TypedDict):
    type: Literal["input_text"]
    text: str


class InputImage(TypedDict):
    type: Literal["input_image"]
    image_url: str
    detail: Literal["auto"]


class InputFile(TypedDict):
    type: Literal["input_file"]
    filename: NotRequired[str]
    file_data: NotRequired[str]
    file_url: NotRequired[str]


InputPart = InputText | InputImage | InputFile


class InputMessage(TypedDict):
    type: Literal["message"]
    role: Literal["user", "system"]
    content: list[InputPart]


class AssistantMessage(TypedDict):
    """Earlier assistant text: a plain string (the form OpenAI's SDK types accept without item ids,
    which `store: false` has no use for)."""

    type: Literal["message"]
    role: Literal["assistant"]
    content: str


class FunctionCall(TypedDict):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str


class FunctionCallOutput(TypedDict):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[InputPart]


class SummaryText(TypedDict):
    type: Literal["summary_text"]
    text: str


class ReasoningItem(TypedDict):
    """A reasoning item replayed from an earlier turn: no `id` (with `store: false` the provider keeps
    nothing to look up), its encrypted content carries the chain."""

    type: Literal["reasoning"]
    summary: list[SummaryText]
    encrypted_content: str


InputItem = InputMessage | AssistantMessage | FunctionCall | FunctionCallOutput | ReasoningItem


class FunctionTool(TypedDict):
    type: Literal["function"]
    name: str
    description: NotRequired[str]
    parameters: dict[str, Any]
    strict: bool


class WebSearchFilters(TypedDict):
    allowed_domains: list[str]


class WebSearchTool(TypedDict):
    """OpenAI's hosted web search (`native_web_search` profiles): the provider runs the searches."""

    type: Literal["web_search"]
    filters: NotRequired[WebSearchFilters]


class NamedFunction(TypedDict):
    type: Literal["function"]
    name: str


ToolChoice = Literal["auto", "none", "required"] | NamedFunction


class Reasoning(TypedDict, total=False):
    effort: str
    summary: Literal["auto", "concise", "detailed"]


class JsonSchemaFormat(TypedDict):
    type: Literal["json_schema"]
    name: str
    schema: dict[str, Any]
    strict: bool


class TextConfig(TypedDict):
    format: JsonSchemaFormat


class ResponsesRequest(TypedDict):
    model: str
    input: list[InputItem]
    # Nothing is kept at the provider: the history is sent whole every turn, reasoning included.
    store: bool
    instructions: NotRequired[str]
    max_output_tokens: NotRequired[int]
    temperature: NotRequired[float]
    top_p: NotRequired[float]
    tools: NotRequired[list[FunctionTool | WebSearchTool]]
    tool_choice: NotRequired[ToolChoice]
    parallel_tool_calls: NotRequired[bool]
    reasoning: NotRequired[Reasoning]
    include: NotRequired[list[str]]
    text: NotRequired[TextConfig]
    user: NotRequired[str]
    safety_identifier: NotRequired[str]
    stream: NotRequired[bool]
