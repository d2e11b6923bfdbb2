"""Which translators serve a target's upstream API: the one place the choice is made.

A provider speaks Chat Completions (`api = "chat"`, the default) or OpenAI's Responses API
(`api = "responses"`). Each target of a route (a fallback may be another provider, speaking the other
API) is translated by the functions here, which pick by the target's provider; the request's
translation then carries the choice on to the answer and the stream. The handler, the dispatcher and
the event stream ask no questions about the API.
"""

from __future__ import annotations

from typing import Protocol

from provider_proxy.config.provider import Route, UpstreamApi
from provider_proxy.conversion import responses_response, responses_stream, stream_pipeline
from provider_proxy.conversion.request import Translation, to_openai
from provider_proxy.conversion.response import to_anthropic
from provider_proxy.conversion.responses_request import ResponsesTranslation, to_responses
from provider_proxy.conversion.responses_stream import ResponsesPipeline, ResponsesStreamTranslator
from provider_proxy.conversion.stream import StreamTranslator
from provider_proxy.conversion.stream_pipeline import EventPipeline
from provider_proxy.errors import ProxyError, UpstreamError
from provider_proxy.models.anthropic import MessagesRequest
from provider_proxy.models.anthropic_output import ErrorType, Message, StopReason, StreamEvent, Usage
from provider_proxy.models.openai import ChatCompletion
from provider_proxy.models.openai_responses import Response

# The upstream request as translated for one target, and the upstream's answer.
Prepared = Translation | ResponsesTranslation
Answer = ChatCompletion | Response


class StreamState(Protocol):
    """What the event stream and the request record read from a stream translator."""

    @property
    def has_content(self) -> bool: ...

    @property
    def usage(self) -> Usage: ...

    @property
    def stop_reason(self) -> StopReason | None: ...

    @property
    def error_type(self) -> ErrorType | None: ...


class StreamPipeline(Protocol):
    """Upstream SSE bytes in, Anthropic events out (`EventPipeline`, `ResponsesPipeline`)."""

    @property
    def translator(self) -> StreamState: ...

    @property
    def done(self) -> bool: ...

    def start(self) -> list[StreamEvent]: ...

    def feed(self, raw: bytes) -> list[StreamEvent]: ...

    def fail(self, error: ProxyError) -> list[StreamEvent]: ...


def translate(request: MessagesRequest, target: Route) -> Prepared:
    if target.provider.api == "responses":
        return to_responses(request, target)
    return to_openai(request, target)


def to_message(answer: Answer, requested_model: str, prepared: Prepared, estimated_input: int = 0) -> Message:
    if isinstance(prepared, ResponsesTranslation):
        assert isinstance(answer, Response)
        return responses_response.to_anthropic(answer, requested_model, prepared, estimated_input)
    assert isinstance(answer, ChatCompletion)
    return to_anthropic(answer, requested_model, prepared, estimated_input)


def stream_pipeline_for(
    prepared: Prepared, requested_model: str, input_tokens: int, secrets: tuple[str, ...], label: str
) -> StreamPipeline:
    if isinstance(prepared, ResponsesTranslation):
        return ResponsesPipeline(ResponsesStreamTranslator(requested_model, prepared, input_tokens), secrets, label)
    return EventPipeline(StreamTranslator(requested_model, prepared, input_tokens), secrets, label)


def error_at_start(api: UpstreamApi, raw: bytes, secrets: tuple[str, ...] = ()) -> UpstreamError | None:
    """The failure a stream's first read reports before any answer, read as that API streams."""
    if api == "responses":
        return responses_stream.error_at_start(raw, secrets)
    return stream_pipeline.error_at_start(raw, secrets)
