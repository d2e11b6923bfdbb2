"""`stream: true` for POST /v1/messages: the upstream's SSE in, Anthropic's SSE out.

Errors before the upstream answers 200 are raised and rendered by `guarded` as a normal error
response. Once the stream has begun, every failure (an error chunk, a malformed chunk, a reset
connection, a read timeout, an end without finish_reason) becomes one `event: error`, then the
stream closes. While the upstream is silent the client gets a `ping` every `PING_INTERVAL` seconds;
an upstream that sends nothing but keep-alive comments for REQUEST_TIMEOUT seconds is a timeout.
When the client goes away the upstream connection is closed at once; the request log line is
written when the stream ends, with its token counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Iterable
from typing import Final

import msgspec
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from provider_proxy.api.handlers import ProxyState, RequestLog
from provider_proxy.conversion.request import Translation
from provider_proxy.conversion.stream import PING, Event, StreamTranslator, chunk_error, coalesce_deltas
from provider_proxy.errors import ProxyError, UpstreamError
from provider_proxy.models.anthropic import MessagesRequest
from provider_proxy.models.openai import ChatCompletionChunk
from provider_proxy.services.http1 import HttpError, Response
from provider_proxy.services.routing import Route
from provider_proxy.services.token_counting import estimate_input_tokens
from provider_proxy.services.upstream import Outcome, error_detail
from provider_proxy.utils.logging import redact
from provider_proxy.utils.sse import ServerSentEvent, SSEDecoder, encode

logger = logging.getLogger(__name__)

# Seconds without a byte to the client before a `ping`; tests lower it.
PING_INTERVAL: float = 10.0
_DONE: Final = "[DONE]"
_SNIPPET: Final = 200
_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_chunk_decoder = msgspec.json.Decoder(ChatCompletionChunk)


class _ObjectError(msgspec.Struct, kw_only=True):
    """vLLM's mid-stream error shape: `{"object": "error", "message": ...}`."""

    object: str | None = None
    message: str | None = None


_object_error_decoder = msgspec.json.Decoder(_ObjectError)


async def stream_messages(
    state: ProxyState,
    route: Route,
    translation: Translation,
    request: MessagesRequest,
    body: bytes,
    log: RequestLog,
) -> StreamingResponse:
    outcome = Outcome()
    try:
        upstream = await state.upstream.open_stream(route.provider, route.model, body, outcome)
    finally:
        log.retries = outcome.retries
    try:
        estimate = estimate_input_tokens(body)
    except Exception:
        upstream.close()
        raise
    translator = StreamTranslator(request.model, translation, estimate)
    log.deferred = True
    stall_timeout = state.config.settings.request_timeout
    return AnthropicEventStream(translator, upstream, log, state.config.secrets, stall_timeout)


def _frames(events: Iterable[Event]) -> bytes:
    return b"".join(encode(event["type"], event) for event in events)


class EventPipeline:
    """Upstream SSE bytes -> Anthropic events (no I/O): SSE decoding, chunk decoding, translation.

    Every failure becomes the final `error` event; after it, or after `message_stop`, `done` is true.
    """

    def __init__(self, translator: StreamTranslator, secrets: tuple[str, ...] = (), label: str = "-") -> None:
        self.translator = translator
        self._secrets = secrets
        self._label = label
        self._decoder = SSEDecoder()

    @property
    def done(self) -> bool:
        return self.translator.done

    def start(self) -> list[Event]:
        return self.translator.start()

    def feed(self, raw: bytes) -> list[Event]:
        """Events for the next upstream bytes; b"" means the upstream closed the stream."""
        if self.done:
            return []
        events: list[Event] = []
        try:
            for sse in self._decoder.feed(raw) if raw else self._decoder.close():
                if sse.data == _DONE:
                    return events + self.translator.finish()
                events += self.translator.feed(decode_chunk(sse, self._secrets))
            if not raw:
                events += self.translator.finish()
        except ProxyError as error:
            events += self.fail(error)
        return events

    def fail(self, error: ProxyError) -> list[Event]:
        if not self.done:
            logger.warning("%s stream failed: %s %s", self._label, error.error_type, error.message)
        return self.translator.fail(error.error_type, error.message)


class AnthropicEventStream(StreamingResponse):
    """The SSE response; owns the upstream response and releases it however the stream ends."""

    def __init__(
        self,
        translator: StreamTranslator,
        upstream: Response,
        log: RequestLog,
        secrets: tuple[str, ...] = (),
        stall_timeout: float = 600.0,
    ) -> None:
        self._pipeline = EventPipeline(translator, secrets, log.request_id)
        self._upstream = upstream
        self._log = log
        self._stall_timeout = stall_timeout
        self._body = self._stream()
        super().__init__(self._body, media_type="text/event-stream", headers=_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        in_flight = self._log.recorder.metrics.streams_in_flight if self._log.recorder else None
        if in_flight is not None:
            in_flight.inc()
        try:
            await super().__call__(scope, receive, send)
        finally:
            if in_flight is not None:
                in_flight.dec()
            # A client disconnect cancels the body mid-flight: close the upstream at once.
            await self._body.aclose()
            self._upstream.close()
            usage = self._pipeline.translator.usage
            self._log.input_tokens, self._log.output_tokens = usage["input_tokens"], usage["output_tokens"]
            self._log.cache_read_tokens = usage["cache_read_input_tokens"]
            self._log.write(scope.get("method", "POST"), scope.get("path", "/v1/messages"), self.status_code)

    async def _stream(self) -> AsyncGenerator[bytes, None]:
        pipeline = self._pipeline
        yield _frames(pipeline.start())
        try:
            last_sent = last_data = time.monotonic()
            while not pipeline.done:
                raw = await self._read(last_sent + PING_INTERVAL - time.monotonic())
                events = [PING] if raw is None else coalesce_deltas(pipeline.feed(raw))
                now = time.monotonic()
                if raw and events:
                    last_data = now
                elif now - last_data > self._stall_timeout:
                    # Keep-alive comments alone are not progress: an upstream that only sends them hangs.
                    raise UpstreamError(
                        "timeout_error",
                        f"Upstream provider sent no data for {self._stall_timeout:g}s (REQUEST_TIMEOUT)",
                    )
                if events:
                    last_sent = now
                    yield _frames(self._observe(events))
        except ProxyError as error:
            yield _frames(self._observe(pipeline.fail(error)))
        except Exception:
            logger.exception("%s stream failed with an unexpected error", self._log.request_id)
            internal = f"Internal proxy error; see the proxy log for {self._log.request_id}"
            yield _frames(self._observe(pipeline.fail(ProxyError("api_error", internal))))
        finally:
            self._upstream.close()  # a complete answer has gone back to the pool; an unfinished one is dropped

    def _observe(self, events: list[Event]) -> list[Event]:
        """Note the first content delta (time to first token) and how the stream ended, for the usage record."""
        log = self._log
        if log.first_token is None and any(event["type"] == "content_block_delta" for event in events):
            log.first_token = time.perf_counter()
        if self._pipeline.done:
            for event in events:
                if event["type"] == "message_delta":
                    log.stop_reason = event["delta"]["stop_reason"]
                elif event["type"] == "error":
                    log.error_type = event["error"]["type"]
        return events

    async def _read(self, wait: float) -> bytes | None:
        """The next bytes from upstream (b"" at the end), or None when it stayed silent for `wait`."""
        try:
            return await self._upstream.readany(max(wait, 0))
        except HttpError as exc:
            raise UpstreamError("api_error", f"Upstream stream broke off: {exc}", status=502) from None


def decode_chunk(sse: ServerSentEvent, secrets: tuple[str, ...] = ()) -> ChatCompletionChunk:
    """One upstream event as a chunk; raises `UpstreamError` for an error event or a broken chunk."""
    data = sse.data
    if sse.event == "error":
        raise _failed(error_detail(data.encode()), secrets)
    try:
        chunk = _chunk_decoder.decode(data)
    except msgspec.DecodeError:
        snippet = redact(data[:_SNIPPET], secrets)
        raise UpstreamError(
            "api_error",
            f"Upstream provider sent a stream chunk that is not a chat completion chunk: {snippet!r}",
            status=502,
        ) from None
    if chunk.error is not None:
        message = redact(chunk.error.message, secrets) if chunk.error.message else None
        raise chunk_error(msgspec.structs.replace(chunk.error, message=message))
    if not chunk.choices and chunk.usage is None:
        vllm = _object_error_decoder.decode(data)
        if vllm.object == "error":
            raise _failed(vllm.message or "unknown error", secrets)
    return chunk


def _failed(detail: str, secrets: tuple[str, ...]) -> UpstreamError:
    return UpstreamError("api_error", f"Upstream provider failed mid-stream: {redact(detail, secrets)}", status=502)
