"""Upstream SSE bytes -> Anthropic stream events, with no I/O: SSE decoding, chunk decoding, translation.

`EventPipeline.feed` takes whatever one upstream read delivered and returns the events it completes
(deltas of one block joined); `b""` means the upstream closed the stream. Every failure (an error
event or error object, a chunk that is not a chat completion chunk, an end without finish_reason)
becomes the one final `error` event; after it, or after `message_stop`, `done` is true. An SSE
line longer than the decoder's limit (1 MiB) is such a failure too, named in the error.

As the Chat Completions API's `StreamRelay` (`conversion.upstream_api`), `begin`, `relay` and `abort`
give the same events encoded as SSE frames, one write each. `SSEPipeline` is the same machinery with the
event decoder as a parameter; `conversion.responses_stream.ResponsesPipeline` is the Responses API's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, Generic, Protocol, TypeVar

import msgspec

from provider_proxy.conversion.stream import StreamTranslator, chunk_error
from provider_proxy.conversion.upstream_api import StreamState
from provider_proxy.errors import SNIPPET, ProxyError, UpstreamError, error_detail
from provider_proxy.models.anthropic_output import ErrorType, StreamEvent, Usage
from provider_proxy.models.openai import ChatCompletionChunk
from provider_proxy.utils.logging import redact
from provider_proxy.utils.sse import LineTooLong, ServerSentEvent, SSEDecoder, encode_all

logger = logging.getLogger(__name__)

_DONE: Final = "[DONE]"
_chunk_decoder = msgspec.json.Decoder(ChatCompletionChunk)
T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class _ObjectError(msgspec.Struct, kw_only=True):
    """vLLM's mid-stream error shape: `{"object": "error", "message": ...}`."""

    object: str | None = None
    message: str | None = None


_object_error_decoder = msgspec.json.Decoder(_ObjectError)


class Translator(StreamState, Protocol[T_contra]):
    """What a pipeline drives: `conversion.stream.StreamTranslator` for chat chunks,
    `conversion.responses_stream.ResponsesStreamTranslator` for Responses API events."""

    def start(self) -> list[StreamEvent]: ...

    def push(self, item: T_contra, /) -> None: ...

    def take(self) -> list[StreamEvent]: ...

    def finish(self) -> list[StreamEvent]: ...

    def fail(self, error: ProxyError) -> list[StreamEvent]: ...


class SSEPipeline(Generic[T]):
    """SSE decoding, then `decode` for each event, then the translator. With `stop_at_done`, a push that
    ends the message (the Responses API's `response.completed`) ends the read: what follows is not part
    of the message."""

    _logger: logging.Logger = logger  # the log line names the module of the API's pipeline

    def __init__(
        self,
        translator: Translator[T],
        decode: Callable[[ServerSentEvent, tuple[str, ...]], T],
        secrets: tuple[str, ...] = (),
        label: str = "-",
        *,
        stop_at_done: bool = False,
    ) -> None:
        self.translator = translator
        self._decode = decode
        self._stop_at_done = stop_at_done
        self._secrets = secrets
        self._label = label
        self._decoder = SSEDecoder()

    @property
    def done(self) -> bool:
        return self.translator.done

    @property
    def has_content(self) -> bool:
        return self.translator.has_content

    @property
    def usage(self) -> Usage:
        return self.translator.usage

    @property
    def stop_reason(self) -> str | None:
        return self.translator.stop_reason

    @property
    def error_type(self) -> ErrorType | None:
        return self.translator.error_type

    def start(self) -> list[StreamEvent]:
        return self.translator.start()

    def begin(self) -> bytes:
        return encode_all(self.translator.start())

    def relay(self, raw: bytes) -> bytes:
        return encode_all(self.feed(raw))

    def abort(self, error: ProxyError) -> bytes:
        return encode_all(self.fail(error))

    def feed(self, raw: bytes) -> list[StreamEvent]:
        """Events for the next upstream bytes; b"" means the upstream closed the stream."""
        translator = self.translator
        if translator.done:
            return []
        try:
            for sse in self._decoder.feed(raw) if raw else self._decoder.close():
                if sse.data == _DONE:
                    return translator.finish()
                translator.push(self._decode(sse, self._secrets))
                if self._stop_at_done and self.done:  # mypy narrows translator.done to False above
                    return translator.take()
            if not raw:
                return translator.finish()
        except ProxyError as error:
            return self.fail(error)
        except LineTooLong as exc:
            return self.fail(line_too_long(exc))
        return translator.take()

    def fail(self, error: ProxyError) -> list[StreamEvent]:
        if not self.done:
            self._logger.warning("%s stream failed: %s %s", self._label, error.error_type, error.message)
        return self.translator.fail(error)


class EventPipeline(SSEPipeline[ChatCompletionChunk]):
    """The Chat Completions API's pipeline: `decode_chunk` for each event."""

    def __init__(self, translator: StreamTranslator, secrets: tuple[str, ...] = (), label: str = "-") -> None:
        super().__init__(translator, decode_chunk, secrets, label)


def decode_chunk(sse: ServerSentEvent, secrets: tuple[str, ...] = ()) -> ChatCompletionChunk:
    """One upstream event as a chunk; raises `UpstreamError` for an error event or a broken chunk."""
    data = sse.data
    if sse.event == "error":
        raise _failed(error_detail(data.encode()), secrets)
    try:
        chunk = _chunk_decoder.decode(data)
    except msgspec.DecodeError:
        snippet = redact(data[:SNIPPET], secrets)
        raise UpstreamError(
            "api_error",
            f"Upstream provider sent a stream chunk that is not a chat completion chunk: {snippet!r}",
            status=502,
        ) from None
    if chunk.error is not None:
        # Redacted as a whole: the provider's message, type and code all go into it.
        failure = chunk_error(chunk.error)
        raise UpstreamError(
            failure.error_type, redact(failure.message, secrets), status=failure.status, retryable=failure.retryable
        )
    if not chunk.choices and chunk.usage is None:
        vllm = _object_error_decoder.decode(data)
        if vllm.object == "error":
            raise _failed(vllm.message or "unknown error", secrets)
    return chunk


def line_too_long(exc: LineTooLong) -> UpstreamError:
    return UpstreamError(
        "api_error",
        f"Upstream provider sent an event-stream line longer than {exc.limit} characters "
        "(the proxy's limit for one SSE line); the stream was stopped",
        status=502,
    )


def _failed(detail: str, secrets: tuple[str, ...]) -> UpstreamError:
    message = f"Upstream provider failed mid-stream: {redact(detail, secrets)}"
    return UpstreamError("api_error", message, status=502, retryable=True)


def error_at_start(raw: bytes, secrets: tuple[str, ...] = ()) -> UpstreamError | None:
    """The failure a stream's first read reports before any answer (an error event or object, or the
    stream closing at once), or None. Nothing has reached the client yet, so such a stream can be
    dropped for the next target. Reads without the word "error" (nearly all) are not parsed here."""
    if not raw:
        return closed_at_once()
    if b"error" not in raw:
        return None
    return first_failure(raw, secrets, decode_chunk)


def closed_at_once() -> UpstreamError:
    return UpstreamError(
        "api_error", "Upstream provider closed the stream before sending anything", status=502, retryable=True
    )


def first_failure(
    raw: bytes, secrets: tuple[str, ...], decode: Callable[[ServerSentEvent, tuple[str, ...]], object]
) -> UpstreamError | None:
    """The `UpstreamError` that `decode` raises for an event of a first read, before `[DONE]`, or None."""
    try:
        events = SSEDecoder().feed(raw)
    except LineTooLong as exc:
        return line_too_long(exc)
    for sse in events:
        if sse.data == _DONE:
            return None
        try:
            decode(sse, secrets)
        except UpstreamError as error:
            return error
    return None
