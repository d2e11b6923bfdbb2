"""The streaming response for `stream: true`: upstream bytes in, Anthropic SSE frames out.

A plain ASGI response (no framework layers on a path every Claude Code turn takes): it relays what
the pipeline (`conversion.stream_pipeline`) makes of each upstream read and owns the I/O around it.
- While the upstream is silent the client gets a `ping` every `PING_INTERVAL` seconds; an upstream
  that sends nothing but keep-alive comments for REQUEST_TIMEOUT seconds is a timeout.
- Every failure once the stream has begun ends it with one `event: error` (the pipeline's).
- When the client goes away the stream stops at once and the upstream connection is closed: a task
  waits on `receive()` for the disconnect, because the server drops writes to a gone client silently.
- The request's record learns the time to the first token, the tokens, the stop reason or error.
- One upstream read can hold a megabyte of chunks (thousands of tool calls): a read larger than
  `_SLICE` bytes is fed in slices, each slice's events written and the event loop given a turn before
  the next, so one request's burst never holds up the other clients.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final

from starlette.types import Message, Receive, Scope, Send

from provider_proxy.config.settings import Settings
from provider_proxy.conversion.upstream_api import StreamPipeline
from provider_proxy.errors import ProxyError, UpstreamError, internal_error
from provider_proxy.models.anthropic_output import StreamEvent
from provider_proxy.services.upstream import ByteStream
from provider_proxy.services.usage.record import RequestRecord
from provider_proxy.utils.sse import encode_all

logger = logging.getLogger(__name__)

_HEADERS: Final = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_PING: Final[list[StreamEvent]] = [{"type": "ping"}]
# The most upstream bytes translated in one step (a few milliseconds of work at most).
_SLICE: Final = 64 * 1024


class EventStreamResponse:
    """An ASGI response; owns the upstream stream and releases it however the stream ends."""

    status_code = 200

    def __init__(
        self, pipeline: StreamPipeline, upstream: ByteStream, record: RequestRecord, settings: Settings
    ) -> None:
        self._pipeline = pipeline
        self._upstream = upstream
        self._record = record
        self._ping_interval = settings.ping_interval
        self._stall_timeout = settings.request_timeout
        self._client_gone = False
        self._relaying = True
        # When the upstream last sent something that made events (keep-alive comments do not).
        self._last_data = 0.0
        self.raw_headers = list(_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        watcher = asyncio.ensure_future(receive())
        watcher.add_done_callback(lambda done: self._on_receive(done, task))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await self._relay(send)
            self._relaying = False  # from here a disconnect is the end of the exchange, not an abort
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not self._client_gone or task.uncancel() > 0:
                raise  # cancelled from outside (shutdown): let it through
            logger.info("%s client disconnected; upstream closed", self._record.request_id)
        finally:
            self._relaying = False
            watcher.cancel()
            self._upstream.close()
            self._note_outcome()

    def _on_receive(self, done: asyncio.Future[Message], task: asyncio.Task[None]) -> None:
        if not self._relaying or done.cancelled() or done.exception() is not None:
            return
        if done.result()["type"] != "http.disconnect":
            return
        self._client_gone = True
        task.cancel()

    async def _relay(self, send: Send) -> None:
        pipeline = self._pipeline
        await self._write(send, pipeline.start())
        ping_interval = self._ping_interval
        last_sent = self._last_data = time.monotonic()
        while not pipeline.done:
            try:
                raw = await self._upstream.read(last_sent + ping_interval - time.monotonic())
                if raw is None:
                    events = _PING
                elif len(raw) <= _SLICE:
                    events = pipeline.feed(raw)
                else:
                    events = await self._feed_slices(send, raw)
                now = time.monotonic()
                if raw and events:
                    self._last_data = now
                elif now - self._last_data > self._stall_timeout:
                    # Keep-alive comments alone are not progress: an upstream that only sends them hangs.
                    raise UpstreamError(
                        "timeout_error",
                        f"Upstream provider sent no data for {self._stall_timeout:g}s (REQUEST_TIMEOUT)",
                    )
            except ProxyError as error:
                events = pipeline.fail(error)
            except Exception:
                logger.exception("%s stream failed with an unexpected error", self._record.request_id)
                events = pipeline.fail(internal_error(self._record.request_id))
            if events:
                last_sent = now = time.monotonic()
                await self._write(send, events)

    async def _feed_slices(self, send: Send, raw: bytes) -> list[StreamEvent]:
        """The events of a large upstream read, fed in slices: those of all but the last slice are
        written here, each followed by the loop's turn for other clients."""
        pipeline = self._pipeline
        end = len(raw)
        start = 0
        while end - start > _SLICE and not pipeline.done:
            events = pipeline.feed(raw[start : start + _SLICE])
            start += _SLICE
            if events:
                self._last_data = time.monotonic()
                await self._write(send, events)
            await asyncio.sleep(0)
        return pipeline.feed(raw[start:])

    async def _write(self, send: Send, events: list[StreamEvent]) -> None:
        record = self._record
        if record.ttft_ms is None and self._pipeline.translator.has_content:
            record.ttft_ms = record.elapsed_ms()
        await send({"type": "http.response.body", "body": encode_all(events), "more_body": True})

    def _note_outcome(self) -> None:
        translator, record = self._pipeline.translator, self._record
        usage = translator.usage
        record.input_tokens, record.output_tokens = usage["input_tokens"], usage["output_tokens"]
        record.cache_read_tokens = usage["cache_read_input_tokens"]
        record.stop_reason, record.error_type = translator.stop_reason, translator.error_type
