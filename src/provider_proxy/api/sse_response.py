"""The streaming response for `stream: true`: upstream bytes in, Anthropic SSE frames out.

A plain ASGI response (no framework layers on a path every Claude Code turn takes): it writes what
the upstream API's stream relay (`conversion.upstream_api.StreamRelay`: the Chat Completions or
Responses API translator, or Anthropic's events passed through) makes of each upstream read, and
owns the I/O around it.
- While the upstream is silent the client gets a `ping` every `PING_INTERVAL` seconds; an upstream
  that sends nothing but keep-alive comments for REQUEST_TIMEOUT seconds is a timeout.
- Every failure once the stream has begun ends it with one `event: error` (the pipeline's); so does the
  server's shutdown when a stream outlasts SHUTDOWN_GRACE (an `overloaded_error`, which clients retry).
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
from provider_proxy.conversion.upstream_api import StreamRelay
from provider_proxy.errors import ProxyError, UpstreamError, internal_error
from provider_proxy.models.anthropic_output import PingEvent
from provider_proxy.services.upstream import ByteStream
from provider_proxy.services.usage.record import RequestRecord
from provider_proxy.utils.sse import encode_all

logger = logging.getLogger(__name__)

_HEADERS: Final = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_PING_EVENT: Final[PingEvent] = {"type": "ping"}
_PING: Final = encode_all([_PING_EVENT])
# The most upstream bytes translated in one step (a few milliseconds of work at most).
_SLICE: Final = 64 * 1024


class EventStreamResponse:
    """An ASGI response; owns the upstream stream and releases it however the stream ends."""

    status_code = 200

    def __init__(self, pipeline: StreamRelay, upstream: ByteStream, record: RequestRecord, settings: Settings) -> None:
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
            if self._client_gone and task.uncancel() == 0:
                logger.info("%s client disconnected; upstream closed", self._record.request_id)
            elif not await self._end_cut_short(send):
                raise  # cancelled from outside with nobody to tell: let it through
        finally:
            self._relaying = False
            watcher.cancel()
            self._upstream.close()
            self._note_outcome()

    async def _end_cut_short(self, send: Send) -> bool:
        """Cancelled from outside while relaying to a client, which is the server's shutdown once
        SHUTDOWN_GRACE has run out: the stream ends with an error the client retries and the response
        ends properly (the task then ends normally: nothing waits for it but the server)."""
        if not self._relaying or self._client_gone:
            return False
        self._relaying = False
        error = ProxyError(
            "overloaded_error",
            "The proxy is shutting down and this stream outlasted its grace period (SHUTDOWN_GRACE); retry the request",
        )
        logger.warning("%s stream ended by the shutdown (SHUTDOWN_GRACE)", self._record.request_id)
        await self._write(send, self._pipeline.abort(error))
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return True

    def _on_receive(self, done: asyncio.Future[Message], task: asyncio.Task[None]) -> None:
        if not self._relaying or done.cancelled() or done.exception() is not None:
            return
        if done.result()["type"] != "http.disconnect":
            return
        self._client_gone = True
        task.cancel()

    async def _relay(self, send: Send) -> None:
        pipeline = self._pipeline
        opening = pipeline.begin()
        if opening:
            await self._write(send, opening)
        ping_interval = self._ping_interval
        last_sent = self._last_data = time.monotonic()
        while not pipeline.done:
            try:
                raw = await self._upstream.read(last_sent + ping_interval - time.monotonic())
                if raw is None:
                    frames = _PING
                elif len(raw) <= _SLICE:
                    frames = pipeline.relay(raw)
                else:
                    frames = await self._feed_slices(send, raw)
                now = time.monotonic()
                if raw and frames:
                    self._last_data = now
                elif now - self._last_data > self._stall_timeout:
                    # Keep-alive comments alone are not progress: an upstream that only sends them hangs.
                    raise UpstreamError(
                        "timeout_error",
                        f"Upstream provider sent no data for {self._stall_timeout:g}s (REQUEST_TIMEOUT)",
                    )
            except ProxyError as error:
                frames = pipeline.abort(error)
            except Exception:
                logger.exception("%s stream failed with an unexpected error", self._record.request_id)
                frames = pipeline.abort(internal_error(self._record.request_id))
            if frames:
                last_sent = now = time.monotonic()
                await self._write(send, frames)

    async def _feed_slices(self, send: Send, raw: bytes) -> bytes:
        """The events of a large upstream read, fed in slices: those of all but the last slice are
        written here, each followed by the loop's turn for other clients."""
        pipeline = self._pipeline
        end = len(raw)
        start = 0
        while end - start > _SLICE and not pipeline.done:
            frames = pipeline.relay(raw[start : start + _SLICE])
            start += _SLICE
            if frames:
                self._last_data = time.monotonic()
                await self._write(send, frames)
            await asyncio.sleep(0)
        return pipeline.relay(raw[start:])

    async def _write(self, send: Send, frames: bytes) -> None:
        record = self._record
        if record.ttft_ms is None and self._pipeline.has_content:
            record.ttft_ms = record.elapsed_ms()
        await send({"type": "http.response.body", "body": frames, "more_body": True})

    def _note_outcome(self) -> None:
        pipeline, record = self._pipeline, self._record
        record.note_usage(pipeline.usage)
        record.stop_reason, record.error_type = pipeline.stop_reason, pipeline.error_type
