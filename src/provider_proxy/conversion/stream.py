"""OpenAI chat-completion chunks -> Anthropic stream events: an I/O-free state machine.

`StreamTranslator` turns upstream chunks into the events they complete, in the order clients rely
on: `message_start`; per content block `content_block_start`, its deltas, `content_block_stop` (one
block open at a time); then `message_delta` and `message_stop`.

Chunks are pushed one by one (`push`) and the events taken once per upstream read (`take`); deltas
of one block that arrive in the same read are joined into one event as they are produced, so a
burst of a hundred chunks leaves as a handful of frames (less to encode, write and parse).

Tool calls arrive by upstream index, possibly interleaved and possibly with the id and name after
the first argument fragment. One tool_use block is open at a time; fragments of other calls wait
in their call until the open call's arguments form a complete JSON value (or the turn ends), so
every fragment lands in its own block. Argument text is passed through `ArgumentStream`, which keeps
what the client has seen parseable and repairs truncated arguments with an append-only suffix. The
work per chunk does not grow with the number of calls: waiting calls sit in a heap by index, and
calls without an index are found by their id, so an answer with thousands of calls stays linear.

The ids, stop reasons, usage and signatures come from `conversion.response` and
`conversion.signatures`, so both paths produce the same final message.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Final, Protocol, assert_never

import orjson

from provider_proxy.conversion.request import Translation
from provider_proxy.conversion.response import (
    content_text,
    matched_stop_sequence,
    message_id,
    stop_reason,
    thinking_from_parts,
    unique_call_id,
    usage_fields,
)
from provider_proxy.conversion.signatures import (
    google_thought_signature,
    id_with_thought_signature,
    thinking_signature,
)
from provider_proxy.conversion.stream_text import ArgumentStream, BlockKind, ThinkTags
from provider_proxy.conversion.text_tools import Piece, TextCall, TextToolCalls
from provider_proxy.errors import ProxyError, UpstreamError, error_payload, from_upstream_status
from provider_proxy.models.anthropic_output import (
    BlockDelta,
    ContentBlock,
    ContentBlockDeltaEvent,
    ErrorType,
    MessageDeltaEvent,
    PingEvent,
    StopReason,
    StreamEvent,
    Usage,
)
from provider_proxy.models.openai import ChatCompletionChunk, ChunkChoice, ErrorObject, ToolCall
from provider_proxy.models.openai import Usage as UpstreamUsage

PING: Final[PingEvent] = {"type": "ping"}
_CHARS_PER_TOKEN: Final = 4


class Phase(Enum):
    NEW = auto()  # message_start not sent yet
    STREAMING = auto()
    DONE = auto()  # message_stop or error sent; nothing more may follow


@dataclass(slots=True)
class OpenBlock:
    index: int
    kind: BlockKind
    call: int | None = None  # upstream index of the tool call an open tool_use block belongs to


@dataclass(slots=True)
class PendingCall:
    """One upstream tool call, accumulated by index."""

    id: str | None = None
    name: str | None = None
    thought_signature: str | None = None
    unsent: list[str] = field(default_factory=list)
    arguments: ArgumentStream = field(default_factory=ArgumentStream)
    done: bool = False

    def merge(self, call: ToolCall) -> None:
        self.id = self.id or call.id
        self.thought_signature = self.thought_signature or google_thought_signature(call.extra_content)
        function = call.function
        if function is None:
            return
        self.name = self.name or function.name or None
        raw = function.arguments
        if isinstance(raw, str):
            if raw:
                self.unsent.append(raw)
        elif raw is not None:
            # Already parsed by the provider: one complete fragment.
            self.unsent.append(orjson.dumps(raw if isinstance(raw, dict) else {"_arguments": raw}).decode())


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


def chunk_error(error: ErrorObject) -> UpstreamError:
    """An error object inside the stream (OpenAI, OpenRouter), typed by its HTTP-like code when it has one."""
    detail = error.message or error.type or "unknown error"
    error_type: ErrorType = "api_error"
    retryable = True
    if isinstance(error.code, int) and error.code >= 400:
        mapped = from_upstream_status(error.code, detail)
        error_type, retryable = mapped.error_type, mapped.retryable
    code = f" (code {error.code})" if error.code is not None else ""
    message = f"Upstream provider failed mid-stream: {detail}{code}"
    return UpstreamError(error_type, message, status=502, retryable=retryable)


class _Kinded(Protocol):
    @property
    def kind(self) -> BlockKind: ...


class TranslatorCore:
    """What both stream translators share (Chat Completions: `StreamTranslator`; the Responses API:
    `conversion.responses_stream.ResponsesStreamTranslator`): the phase, `message_start`, the events
    produced since the last `take` with the open delta run joined when it ends, the final error event."""

    _model: str
    _input_tokens: int
    _phase: Phase
    _block: _Kinded | None
    _events: list[StreamEvent]
    _run: list[str]
    error_type: ErrorType | None

    @property
    def done(self) -> bool:
        return self._phase is Phase.DONE

    def start(self) -> list[StreamEvent]:
        self._enter(Phase.NEW, Phase.STREAMING)
        return [
            {
                "type": "message_start",
                "message": {
                    "id": message_id(),
                    "type": "message",
                    "role": "assistant",
                    "model": self._model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage_fields(None, self._input_tokens),
                },
            }
        ]

    def take(self) -> list[StreamEvent]:
        """The events produced since the last call."""
        self._end_run()
        events, self._events = self._events, []
        return events

    def fail(self, error: ProxyError) -> list[StreamEvent]:
        """End the stream with an error event (at most once; nothing follows it). Events produced
        before the failure still go out first."""
        if self._phase is Phase.DONE:
            return []
        self._phase = Phase.DONE
        self.error_type = error.error_type
        self._emit(error_payload(error))
        return self.take()

    def _enter(self, expected: Phase, then: Phase) -> None:
        if self._phase is not expected:
            raise RuntimeError(f"stream translator is {self._phase.name}, expected {expected.name}")
        self._phase = then

    def _emit(self, event: StreamEvent) -> None:
        self._end_run()
        self._events.append(event)

    def _end_run(self) -> None:
        run = self._run
        if not run:
            return
        if len(run) > 1:
            last = self._events[-1]
            assert last["type"] == "content_block_delta" and self._block is not None
            joined: ContentBlockDeltaEvent = {
                "type": "content_block_delta",
                "index": last["index"],
                "delta": _delta(self._block.kind, "".join(run)),
            }
            self._events[-1] = joined
        self._run = []


class StreamTranslator(TranslatorCore):
    """The state of one streamed message: its phase, the open block, the tool calls seen, and the
    events produced since the last `take` (with the open delta run, joined when it ends)."""

    def __init__(self, requested_model: str, translation: Translation, input_tokens: int = 0) -> None:
        self._model = requested_model
        self._translation = translation
        self._input_tokens = input_tokens
        self._phase = Phase.NEW
        self._block: OpenBlock | None = None
        self._next_index = 0
        self._calls: dict[int, PendingCall] = {}
        # Indices of the calls not opened yet, lowest first; and calls by id, for chunks without an index.
        self._waiting: list[int] = []
        self._call_ids: dict[str, int] = {}
        self._last_index = -1
        self._tags = ThinkTags()
        # Tool calls written as text, recovered from the content (None: not for this request).
        tools = translation.text_tools
        self._text_calls = TextToolCalls(tools) if tools else None
        # Ids of the tool_use blocks sent, so that a repeated upstream id is replaced.
        self._ids: set[str] = set()
        self._reasoning_details: list[object] = []
        self._finish_reason: str | None = None
        self._upstream_stop: str | int | None = None
        self._upstream_usage: UpstreamUsage | None = None
        self._output_chars = 0
        self._events: list[StreamEvent] = []
        # The last event's delta pieces while more of the same block and kind may follow.
        self._run: list[str] = []
        # A text block is open and content can only be text: a plain text chunk takes the short path.
        self._plain_text = False
        self.usage: Usage = usage_fields(None, input_tokens)
        self.stop_reason: StopReason | None = None
        self.error_type: ErrorType | None = None
        # True once any content delta has been produced (time to first token).
        self.has_content = False

    def feed(self, chunk: ChatCompletionChunk) -> list[StreamEvent]:
        """The events one chunk completes (`push` then `take`)."""
        self.push(chunk)
        return self.take()

    def push(self, chunk: ChatCompletionChunk) -> None:
        """Translate one upstream chunk; raises `UpstreamError` for an error chunk."""
        if self._phase is not Phase.STREAMING:
            raise RuntimeError(f"stream translator is {self._phase.name}, expected STREAMING")
        if chunk.error is not None:
            raise chunk_error(chunk.error)
        if chunk.usage is not None:
            self._upstream_usage = chunk.usage
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            content = delta.content
            if (
                self._plain_text
                and type(content) is str
                and not choice.finish_reason
                and delta.tool_calls is None
                and delta.reasoning_content is None
                and delta.reasoning is None
                and delta.refusal is None
                and delta.reasoning_details is None
            ):
                # The common chunk: more text for the open text block.
                if content:
                    self._output_chars += len(content)
                    if self._run:
                        self._run.append(content)
                    else:
                        self._delta(content)
            else:
                self._choice(choice)

    def finish(self) -> list[StreamEvent]:
        """Close everything and end the message; raises `UpstreamError` if the turn never finished."""
        self._enter(Phase.STREAMING, Phase.STREAMING)
        if self._finish_reason is None:
            raise UpstreamError(
                "api_error",
                "Upstream stream ended before the completion finished (no finish_reason); "
                "the provider may have hit its context limit or dropped the request",
                status=502,
            )
        self._end_content()
        self._close()
        for index in sorted(self._calls):
            if not self._calls[index].done:
                self._open_call(index)
                self._close()
        self._phase = Phase.DONE
        self._emit(self._message_delta())
        self._emit({"type": "message_stop"})
        return self.take()

    # -- output: deltas joined into runs (`TranslatorCore._end_run` joins them) --

    def _delta(self, text: str) -> None:
        """A delta of the open block's kind; joined to the previous one while the run lasts."""
        if self._run:
            self._run.append(text)
            return
        block = self._block
        assert block is not None
        self._events.append({"type": "content_block_delta", "index": block.index, "delta": _delta(block.kind, text)})
        self._run.append(text)

    # -- translation --

    def _choice(self, choice: ChunkChoice) -> None:
        self._parts(choice)
        block = self._block
        self._plain_text = (
            block is not None and block.kind is BlockKind.TEXT and self._tags.passthrough and self._text_calls is None
        )
        if choice.finish_reason:
            if choice.finish_reason == "error":
                raise UpstreamError("api_error", "Upstream provider ended the completion with an error", status=502)
            self._finish_reason = choice.finish_reason
            self._upstream_stop = choice.stop_reason

    def _parts(self, choice: ChunkChoice) -> None:
        delta = choice.delta
        if delta.reasoning_details:
            self._reasoning_details.extend(delta.reasoning_details)
        reasoning = delta.reasoning_content or delta.reasoning
        if reasoning:
            self._tags.plain()
            self._content(BlockKind.THINKING, reasoning)
        content = delta.content
        if isinstance(content, list):
            parts_thinking = thinking_from_parts(content)
            if parts_thinking:
                self._tags.plain()
                self._content(BlockKind.THINKING, parts_thinking)
            content = content_text(content)
        if content:
            for kind, text in self._tags.feed(content):
                self._text(kind, text)
        if delta.refusal:
            self._content(BlockKind.TEXT, delta.refusal)
        if delta.tool_calls:
            self._end_content()
            for call in delta.tool_calls:
                self._tool_delta(call)

    def _text(self, kind: BlockKind, text: str) -> None:
        """Content text, through the recovery of tool calls written as text when it is on."""
        parser = self._text_calls
        if parser is None or kind is not BlockKind.TEXT:
            self._content(kind, text)
        else:
            self._pieces(parser.feed(text))

    def _end_content(self) -> None:
        """What the content parsers hold, when the content ends (the stream ends or tool calls begin)."""
        for kind, text in self._tags.flush():
            self._text(kind, text)
        if self._text_calls is not None:
            self._pieces(self._text_calls.flush())

    def _pieces(self, pieces: list[Piece]) -> None:
        for piece in pieces:
            if isinstance(piece, TextCall):
                self._text_call(piece)
            else:
                self._content(BlockKind.TEXT, piece)

    def _text_call(self, call: TextCall) -> None:
        """A whole call recovered from text: its own block, opened and closed at once. Its index is
        negative, apart from the upstream's tool-call indexes."""
        index = min(0, *self._calls) - 1 if self._calls else -1
        pending = PendingCall(name=call.name, unsent=[orjson.dumps(call.arguments).decode()])
        self._calls[index] = pending
        self._close()
        self._open_call(index)
        self._close()

    def _content(self, kind: BlockKind, text: str) -> None:
        block = self._block
        if block is None or block.kind is not kind:
            content_block: ContentBlock
            if kind is BlockKind.THINKING:
                content_block = {"type": "thinking", "thinking": "", "signature": ""}
            else:
                content_block = {"type": "text", "text": ""}
            self._close()
            self._open(kind, content_block)
        self._output_chars += len(text)
        self._delta(text)

    def _open(self, kind: BlockKind, content_block: ContentBlock, call: int | None = None) -> None:
        self._plain_text = False  # decided again when the chunk that opened it is done
        self._block = OpenBlock(self._next_index, kind, call)
        self._emit({"type": "content_block_start", "index": self._next_index, "content_block": content_block})
        self._next_index += 1
        self.has_content = True

    def _close(self) -> None:
        block = self._block
        if block is None:
            return
        match block.kind:
            case BlockKind.THINKING:
                signature = thinking_signature(self._reasoning_details or None)
                self._emit(
                    {
                        "type": "content_block_delta",
                        "index": block.index,
                        "delta": {"type": "signature_delta", "signature": signature},
                    }
                )
            case BlockKind.TOOL_USE:
                assert block.call is not None
                call = self._calls[block.call]
                self._arguments(call.arguments.close())
                call.done = True
            case BlockKind.TEXT:
                pass
            case unreachable:
                assert_never(unreachable)
        self._emit({"type": "content_block_stop", "index": block.index})
        self._block = None
        self._plain_text = False

    def _tool_delta(self, call: ToolCall) -> None:
        index = self._call_index(call)
        pending = self._calls.get(index)
        if pending is None:
            pending = self._calls[index] = PendingCall()
            heapq.heappush(self._waiting, index)
            self._last_index = max(self._last_index, index)
        pending.merge(call)
        if call.id and pending.id == call.id:
            self._call_ids.setdefault(call.id, index)
        block = self._block
        if block is not None and block.call == index:
            self._flush_call(pending)
        else:
            self._advance_calls()

    def _advance_calls(self) -> None:
        """Open the next waiting call once no unfinished call holds the tool_use block."""
        while (ready := self._ready_call()) is not None:
            block = self._block
            if block is not None and block.call is not None and not self._calls[block.call].arguments.complete:
                break
            self._close()
            heapq.heappop(self._waiting)
            self._open_call(ready)

    def _ready_call(self) -> int | None:
        """The lowest waiting call, once its name is known: blocks keep the upstream's call order."""
        waiting = self._waiting
        return waiting[0] if waiting and self._calls[waiting[0]].name else None

    def _open_call(self, index: int) -> None:
        call = self._calls[index]
        call_id = id_with_thought_signature(unique_call_id(call.id, self._ids), call.thought_signature)
        name = self._translation.names.original(call.name or "")
        self._open(BlockKind.TOOL_USE, {"type": "tool_use", "id": call_id, "name": name, "input": {}}, index)
        self._flush_call(call)

    def _flush_call(self, call: PendingCall) -> None:
        text = "".join(call.unsent)
        call.unsent.clear()
        if text:
            self._arguments(call.arguments.feed(text))

    def _arguments(self, text: str) -> None:
        if text:
            self._output_chars += len(text)
            self._delta(text)

    def _call_index(self, call: ToolCall) -> int:
        if call.index is not None:
            return call.index
        # Providers that omit the index (Gemini sends whole calls): a new id is a new call.
        if call.id:
            known = self._call_ids.get(call.id)
            if known is not None:
                return known
        # `_last_index` counts the upstream's calls only (calls recovered from text have negative indexes).
        if call.id or self._last_index < 0:
            return self._last_index + 1
        return self._last_index

    def _message_delta(self) -> MessageDeltaEvent:
        has_tools = bool(self._calls)
        stop_sequence = matched_stop_sequence(self._upstream_stop, self._translation.stop_sequences)
        reason = "stop_sequence" if stop_sequence else stop_reason(self._finish_reason, has_tools)
        estimate = math.ceil(self._output_chars / _CHARS_PER_TOKEN)
        self.usage = usage_fields(self._upstream_usage, self._input_tokens, estimate)
        self.stop_reason = reason
        return {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": stop_sequence},
            "usage": self.usage,
        }
