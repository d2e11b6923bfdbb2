"""OpenAI Responses API answers and stream events, as providers send them (the request is in
`openai_responses_request`).

Lenient like the other inbound types: unknown fields are ignored, every field has a default, and an
output item or event is one Struct for all its kinds (`type` says which), so an item type or event
the proxy does not know yet decodes and is skipped instead of failing the answer.
"""

from __future__ import annotations

from typing import Any

import msgspec


class OutputContent(msgspec.Struct, kw_only=True):
    """A part of an output message (`output_text`, `refusal`) or of a reasoning item (`reasoning_text`)."""

    type: str = ""
    text: str | None = None
    refusal: str | None = None


class SummaryPart(msgspec.Struct, kw_only=True):
    type: str = "summary_text"
    text: str = ""


class SearchSource(msgspec.Struct, kw_only=True):
    type: str = "url"
    url: str = ""


class SearchAction(msgspec.Struct, kw_only=True):
    """What a `web_search_call` did: `search` (with its query and, when asked for, its sources),
    `open_page` or `find_in_page`."""

    type: str = ""
    query: str | None = None
    queries: list[str] | None = None
    sources: list[SearchSource] | None = None
    url: str | None = None


class OutputItem(msgspec.Struct, kw_only=True):
    """One output item: `message`, `function_call`, `reasoning`, `web_search_call`, or a kind the
    proxy skips."""

    type: str = ""
    id: str | None = None
    status: str | None = None
    # message
    role: str | None = None
    content: list[OutputContent] | None = None
    # function_call
    call_id: str | None = None
    name: str | None = None
    arguments: str | dict[str, Any] | None = None
    # reasoning
    summary: list[SummaryPart] | None = None
    encrypted_content: str | None = None
    # web_search_call
    action: SearchAction | None = None


class InputTokensDetails(msgspec.Struct, kw_only=True):
    cached_tokens: int | None = None


class OutputTokensDetails(msgspec.Struct, kw_only=True):
    reasoning_tokens: int | None = None


class Usage(msgspec.Struct, kw_only=True):
    """`input_tokens` counts the cached ones too; `output_tokens` counts the reasoning ones."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    input_tokens_details: InputTokensDetails | None = None
    output_tokens_details: OutputTokensDetails | None = None

    @property
    def cached_tokens(self) -> int:
        details = self.input_tokens_details
        return (details.cached_tokens or 0) if details else 0


class ResponseError(msgspec.Struct, kw_only=True):
    code: str | int | None = None
    message: str | None = None


class IncompleteDetails(msgspec.Struct, kw_only=True):
    reason: str | None = None


class Response(msgspec.Struct, kw_only=True):
    id: str | None = None
    object: str | None = None
    model: str | None = None
    # completed, incomplete, failed, cancelled, in_progress, queued
    status: str | None = None
    output: list[OutputItem] = msgspec.field(default_factory=list)
    usage: Usage | None = None
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None


class StreamEvent(msgspec.Struct, kw_only=True):
    """One streamed event, all kinds in one shape: `response.output_text.delta` has `delta`,
    `response.output_item.added` has `item`, `response.completed` has `response`, `error` has
    `code` and `message`, and so on."""

    type: str = ""
    output_index: int | None = None
    summary_index: int | None = None
    content_index: int | None = None
    delta: str | None = None
    item: OutputItem | None = None
    response: Response | None = None
    code: str | int | None = None
    message: str | None = None
