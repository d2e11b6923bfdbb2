"""OpenAI Responses API stream events -> Anthropic stream events: an I/O-free state machine, with the
interface of the Chat Completions one (`conversion.stream.StreamTranslator`): `start`, `push`,
`take`, `feed`, `finish`, `fail`, and `done`, `usage`, `stop_reason`, `error_type`, `has_content`.

The Responses API streams its output items one after another (`response.output_item.added`, the
item's deltas, `response.output_item.done`), so each item maps to at most one content block and one
block is open at a time:
- reasoning: `response.reasoning_summary_text.delta` (or `response.reasoning_text.delta`) ->
  `thinking_delta`s (summary parts joined by a blank line); at the item's end a `signature_delta`
  carrying its `encrypted_content`. An item with no summary still gets a block when it has encrypted
  content.
- message: `response.output_text.delta` and `response.refusal.delta` -> `text_delta`s.
- function_call: opened at `output_item.added` (the call id and name come first), then
  `response.function_call_arguments.delta` -> `input_json_delta`s, kept a parseable JSON prefix.
- web_search_call (the provider's own search): at its `done`, a `server_tool_use` block and a
  `web_search_tool_result` block, each whole (start and stop), as Anthropic streams its searches.
An item whose deltas never came (a server that sends whole items) is sent whole at its `done`.
`response.completed` and `response.incomplete` end the message (stop reason and usage from the final
response); `response.failed` and `error` events raise `UpstreamError`, which the pipeline turns into
the one final `error` event. Events the proxy has no use for are skipped.

`ResponsesPipeline` adds SSE decoding and event decoding, as `conversion.stream_pipeline.EventPipeline`
does for chat chunks, and is the Responses API's `StreamRelay` (`conversion.upstream_api`): `begin`,
`relay` and `abort` give the same events encoded as SSE frames.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Final, assert_never

import msgspec

from provider_proxy.conversion.response import unique_call_id
from provider_proxy.conversion.responses_request import ResponsesTranslation
from provider_proxy.conversion.responses_response import (
    failure,
    hosted_search_blocks,
    message_text,
    reasoning_text,
    response_failure,
    response_stop_reason,
    usage_fields,
)
from provider_proxy.conversion.signatures import thinking_signature
from provider_proxy.conversion.stream import Phase, TranslatorCore
from provider_proxy.conversion.stream_pipeline import SSEPipeline, closed_at_once, first_failure
from provider_proxy.conversion.stream_text import ArgumentStream, BlockKind
from provider_proxy.errors import SNIPPET, UpstreamError
from provider_proxy.models.anthropic_output import (
    BlockDelta,
    ContentBlock,
    ErrorType,
    StopReason,
    StreamEvent,
    Usage,
)
from provider_proxy.models.openai_responses import OutputItem, Response
from provider_proxy.models.openai_responses import StreamEvent as UpstreamEvent
from provider_proxy.utils.logging import redact
from provider_proxy.utils.sse import ServerSentEvent

logger = logging.getLogger(__name__)

_CHARS_PER_TOKEN: Final = 4
_PART_SEPARATOR: Final = "\n\n"
_event_decoder = msgspec.json.Decoder(UpstreamEvent)


@dataclass(slots=True)
class OpenBlock:
    index: int
    kind: BlockKind
    item: int  # the upstream output_index the block belongs to
    part: int = 0  # the summary part the last thinking delta belonged to
    sent: bool = False  # a delta of this block went out
    arguments: ArgumentStream = field(default_factory=ArgumentStream)


def _delta(kind: BlockKind, text: str) -> BlockDelta:
    match kind:
        case BlockKind.TEXT:
            return {"type": "text_delta", "text": text}
        case BlockKind.THINKING:
            return {"type": "thinking_delta", "thinking": text}
        case BlockKind.TOOL_USE:
            return {"type": "input_json_delta", "partial_json": text}
        case unreachable:
            assert_never(unreachable)


class ResponsesStreamTranslator(TranslatorCore):
    """The state of one streamed message: its phase, the open block, the output items seen, and the
    events produced since the last `take` (deltas of one block joined)."""

    def __init__(self, requested_model: str, translation: ResponsesTranslation, input_tokens: int = 0) -> None:
        self._model = requested_model
        self._translation = translation
        self._input_tokens = input_tokens
        self._phase = Phase.NEW
        self._block: OpenBlock | None = None
        self._next_index = 0
        # Output items that got a block (or were skipped as empty), so a `done` does not send them twice.
        self._finished: set[int] = set()
        self._ids: set[str] = set()
        self._tool_calls = 0
        self._searches = 0
        self._refused = False
        self._output_chars = 0
        self._events: list[StreamEvent] = []
        self._run: list[str] = []
        self.usage: Usage = usage_fields(None, input_tokens)
        self.stop_reason: StopReason | None = None
        self.error_type: ErrorType | None = None
        self.has_content = False

    def feed(self, event: UpstreamEvent) -> list[StreamEvent]:
        self.push(event)
        return self.take()

    def push(self, event: UpstreamEvent) -> None:
        """Translate one upstream event; raises `UpstreamError` for a failure the stream reports."""
        if self._phase is not Phase.STREAMING:
            raise RuntimeError(f"stream translator is {self._phase.name}, expected STREAMING")
        index = event.output_index if event.output_index is not None else -1
        match event.type:
            case "response.output_text.delta":
                self._content(BlockKind.TEXT, index, event.delta)
            case "response.refusal.delta":
                self._refused = True
                self._content(BlockKind.TEXT, index, event.delta)
            case "response.reasoning_summary_text.delta":
                self._thinking(index, event.summary_index or 0, event.delta)
            case "response.reasoning_text.delta":
                self._thinking(index, event.content_index or 0, event.delta)
            case "response.function_call_arguments.delta":
                self._arguments(index, event.delta)
            case "response.output_item.added" if event.item is not None:
                self._item_added(index, event.item)
            case "response.output_item.done" if event.item is not None:
                self._item_done(index, event.item)
            case "response.completed" | "response.incomplete":
                self._complete(event.response)
            case "response.failed":
                response = event.response
                raise response_failure(response.error if response else None, response.status if response else None)
            case "error":
                raise failure(event.code, event.message)
            case _:
                pass  # created, in_progress, content parts, *.done with the whole text: nothing new

    def finish(self) -> list[StreamEvent]:
        """The upstream closed the stream: fine after `response.completed`, else a failure."""
        if self._phase is Phase.DONE:
            return self.take()
        raise UpstreamError(
            "api_error",
            "Upstream stream ended before the response completed (no response.completed event); "
            "the provider may have hit its context limit or dropped the request",
            status=502,
            retryable=True,
        )

    # -- output: deltas joined into runs (`TranslatorCore._end_run` joins them) --

    def _delta(self, text: str) -> None:
        block = self._block
        assert block is not None
        self._output_chars += len(text)
        block.sent = True
        if not self._run:
            self._events.append(
                {"type": "content_block_delta", "index": block.index, "delta": _delta(block.kind, text)}
            )
        self._run.append(text)

    def _open(self, kind: BlockKind, item: int, content_block: ContentBlock) -> OpenBlock:
        self._close()
        block = self._block = OpenBlock(self._next_index, kind, item)
        self._emit({"type": "content_block_start", "index": self._next_index, "content_block": content_block})
        self._next_index += 1
        self.has_content = True
        return block

    def _close(self, signature: str | None = None) -> None:
        """Close the open block; a thinking block gets its signature first (`signature`, or one without
        encrypted content when its item never finished)."""
        block = self._block
        if block is None:
            return
        match block.kind:
            case BlockKind.THINKING:
                signed = signature or thinking_signature()
                self._emit(
                    {
                        "type": "content_block_delta",
                        "index": block.index,
                        "delta": {"type": "signature_delta", "signature": signed},
                    }
                )
            case BlockKind.TOOL_USE:
                tail = block.arguments.close()
                if tail:
                    self._delta(tail)
            case BlockKind.TEXT:
                pass
            case unreachable:
                assert_never(unreachable)
        self._emit({"type": "content_block_stop", "index": block.index})
        self._finished.add(block.item)
        self._block = None

    # -- translation --

    def _content(self, kind: BlockKind, item: int, text: str | None) -> None:
        if not text:
            return
        block = self._block
        if block is None or block.item != item or block.kind is not kind:
            empty: ContentBlock = (
                {"type": "thinking", "thinking": "", "signature": ""}
                if kind is BlockKind.THINKING
                else {"type": "text", "text": ""}
            )
            self._open(kind, item, empty)
        self._delta(text)

    def _thinking(self, item: int, part: int, text: str | None) -> None:
        if not text:
            return
        block = self._block
        if block is not None and block.item == item and block.kind is BlockKind.THINKING and part != block.part:
            block.part = part
            self._delta(_PART_SEPARATOR)
        self._content(BlockKind.THINKING, item, text)
        assert self._block is not None
        self._block.part = part

    def _item_added(self, index: int, item: OutputItem) -> None:
        if item.type == "function_call":
            self._open_call(index, item)

    def _open_call(self, index: int, item: OutputItem) -> None:
        call_id = unique_call_id(item.call_id or item.id, self._ids)
        name = self._translation.names.original(item.name or "")
        self._tool_calls += 1
        self._open(BlockKind.TOOL_USE, index, {"type": "tool_use", "id": call_id, "name": name, "input": {}})

    def _arguments(self, index: int, text: str | None) -> None:
        block = self._block
        if not text or block is None or block.item != index or block.kind is not BlockKind.TOOL_USE:
            return  # arguments of a call that never opened: its `done` item carries them whole
        block.sent = True
        out = block.arguments.feed(text)
        if out:
            self._delta(out)

    def _item_done(self, index: int, item: OutputItem) -> None:
        """An item's end: its block closes; one whose deltas never came is sent whole."""
        block = self._block
        open_here = block is not None and block.item == index
        match item.type:
            case "reasoning":
                signature = thinking_signature(None, item.encrypted_content)
                if not open_here and index not in self._finished and (reasoning_text(item) or item.encrypted_content):
                    self._open(BlockKind.THINKING, index, {"type": "thinking", "thinking": "", "signature": ""})
                    self._content(BlockKind.THINKING, index, reasoning_text(item))
                    open_here = True
                if open_here:
                    self._close(signature)
            case "message":
                if not open_here and index not in self._finished:
                    text, refused = message_text(item)
                    self._refused = self._refused or refused
                    self._content(BlockKind.TEXT, index, text)
                    open_here = self._block is not None
                if open_here:
                    self._close()
            case "function_call":
                if not open_here and index not in self._finished:
                    self._open_call(index, item)
                    open_here = True
                if open_here and self._block is not None and not self._block.sent:
                    raw = item.arguments
                    self._arguments(index, raw if isinstance(raw, str) else msgspec.json.encode(raw).decode())
                if open_here:
                    self._close()
            case "web_search_call":
                self._searched(item)
            case _:
                pass
        self._finished.add(index)

    def _searched(self, item: OutputItem) -> None:
        """A search the provider ran: its blocks, whole, as Anthropic streams them."""
        for block in hosted_search_blocks(item):
            self._close()
            self._emit({"type": "content_block_start", "index": self._next_index, "content_block": block})
            self._emit({"type": "content_block_stop", "index": self._next_index})
            self._next_index += 1
            self._searches += block["type"] == "server_tool_use"
            self.has_content = True

    def _complete(self, response: Response | None) -> None:
        self._close()
        final = response or Response(status="completed")
        estimate = math.ceil(self._output_chars / _CHARS_PER_TOKEN)
        self.usage = usage_fields(final.usage, self._input_tokens, estimate)
        if self._searches:
            self.usage = {**self.usage, "server_tool_use": {"web_search_requests": self._searches}}
        self.stop_reason = response_stop_reason(final, self._tool_calls > 0, self._refused)
        self._phase = Phase.DONE
        self._emit(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                "usage": self.usage,
            }
        )
        self._emit({"type": "message_stop"})


class ResponsesPipeline(SSEPipeline[UpstreamEvent]):
    """Upstream SSE bytes -> Anthropic events for a Responses API stream; every failure becomes the
    one final `error` event (`conversion.stream_pipeline.SSEPipeline`, as for chat chunks). The read
    ends at `response.completed`: what follows is not part of the message."""

    _logger = logger

    def __init__(self, translator: ResponsesStreamTranslator, secrets: tuple[str, ...] = (), label: str = "-") -> None:
        super().__init__(translator, decode_event, secrets, label, stop_at_done=True)


def decode_event(sse: ServerSentEvent, secrets: tuple[str, ...] = ()) -> UpstreamEvent:
    """One upstream event; raises `UpstreamError` for an error event or one that is not an event."""
    try:
        event = _event_decoder.decode(sse.data)
    except msgspec.DecodeError:
        snippet = redact(sse.data[:SNIPPET], secrets)
        raise UpstreamError(
            "api_error",
            f"Upstream provider sent a stream event that is not a Responses API event: {snippet!r}",
            status=502,
        ) from None
    if event.type == "error" or (sse.event == "error" and not event.type):
        raise failure(event.code, event.message, secrets)
    if event.type == "response.failed":
        response = event.response
        raise response_failure(response.error if response else None, response.status if response else None, secrets)
    return event


def error_at_start(raw: bytes, secrets: tuple[str, ...] = ()) -> UpstreamError | None:
    """The failure a Responses stream's first read reports before any answer (an `error` or
    `response.failed` event, or the stream closing at once), or None: such a stream can still be
    dropped for the next target."""
    if not raw:
        return closed_at_once()
    if b"error" not in raw and b"failed" not in raw:
        return None
    return first_failure(raw, secrets, decode_event)
