"""OpenAI chat-completion chunks -> Anthropic stream events: an I/O-free state machine.

`StreamTranslator` turns each upstream chunk into the events it completes, in the order clients
rely on: `message_start`; per content block `content_block_start`, its deltas, `content_block_stop`
(one block open at a time); then `message_delta` and `message_stop`.

Tool calls arrive by upstream index, possibly interleaved and possibly with the id and name after
the first argument fragment. One tool_use block is open at a time; fragments of other calls wait
in their call until the open call's arguments form a complete JSON value (or the turn ends), so
every fragment lands in its own block. Argument text is passed through `ArgumentStream`, which keeps
what the client has seen parseable and repairs truncated arguments with an append-only suffix.

The ids, stop reasons, usage and signatures come from `conversion.response` and
`conversion.signatures`, so both paths produce the same final message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Any, Final, assert_never

import orjson

from provider_proxy.conversion.request import Translation
from provider_proxy.conversion.response import (
    content_text,
    matched_stop_sequence,
    message_id,
    stop_reason,
    thinking_from_parts,
    tool_use_id,
    usage_fields,
)
from provider_proxy.conversion.signatures import (
    google_thought_signature,
    id_with_thought_signature,
    thinking_signature,
)
from provider_proxy.conversion.stream_text import ArgumentStream, BlockKind, ThinkTags
from provider_proxy.errors import UpstreamError, from_upstream_status
from provider_proxy.models.openai import ChatCompletionChunk, ChunkChoice, ErrorObject, ToolCall, Usage

Event = dict[str, Any]
PING: Final[Event] = {"type": "ping"}
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


_DELTA_TEXT: Final = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}


def coalesce_deltas(events: list[Event]) -> list[Event]:
    """Adjacent deltas of one block and kind joined into one event.

    Upstreams often deliver many chunks in one read; sending them as one delta gives the client the
    same content in fewer frames (less to encode, write and parse)."""
    out: list[Event] = []
    pieces: list[str] = []
    for event in events:
        last = out[-1] if out else None
        kind = event["delta"]["type"] if event["type"] == "content_block_delta" else None
        field = _DELTA_TEXT.get(kind) if kind else None
        if (
            field is not None
            and last is not None
            and last["type"] == "content_block_delta"
            and last["index"] == event["index"]
            and last["delta"]["type"] == kind
        ):
            pieces.append(event["delta"][field])
            continue
        _close_run(out, pieces)
        if field is not None:
            pieces.append(event["delta"][field])
        out.append(event)
    _close_run(out, pieces)
    return out


def _close_run(out: list[Event], pieces: list[str]) -> None:
    """Replace the last event by one holding the joined run (when the run had more than one piece)."""
    if len(pieces) > 1:
        last = out[-1]
        kind = last["delta"]["type"]
        out[-1] = {**last, "delta": {"type": kind, _DELTA_TEXT[kind]: "".join(pieces)}}
    pieces.clear()


def stream_error(error_type: str, message: str) -> Event:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def chunk_error(error: ErrorObject) -> UpstreamError:
    """An error object inside the stream (OpenAI, OpenRouter), typed by its HTTP-like code when it has one."""
    detail = error.message or error.type or "unknown error"
    error_type = "api_error"
    if isinstance(error.code, int) and error.code >= 400:
        error_type = from_upstream_status(error.code, detail).error_type
    code = f" (code {error.code})" if error.code is not None else ""
    return UpstreamError(error_type, f"Upstream provider failed mid-stream: {detail}{code}", status=502)


class StreamTranslator:
    """The state of one streamed message: its phase, the open block and the tool calls seen."""

    def __init__(self, requested_model: str, translation: Translation, input_tokens: int = 0) -> None:
        self._model = requested_model
        self._translation = translation
        self._input_tokens = input_tokens
        self._phase = Phase.NEW
        self._block: OpenBlock | None = None
        self._next_index = 0
        self._calls: dict[int, PendingCall] = {}
        self._tags = ThinkTags()
        self._reasoning_details: list[Any] = []
        self._finish_reason: str | None = None
        self._upstream_stop: str | int | None = None
        self._upstream_usage: Usage | None = None
        self._output_chars = 0
        self.usage: dict[str, int] = usage_fields(None, input_tokens)

    @property
    def done(self) -> bool:
        return self._phase is Phase.DONE

    def start(self) -> list[Event]:
        self._enter(Phase.NEW, Phase.STREAMING)
        message: dict[str, Any] = {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_fields(None, self._input_tokens),
        }
        return [{"type": "message_start", "message": message}]

    def feed(self, chunk: ChatCompletionChunk) -> list[Event]:
        """Events completed by one upstream chunk; raises `UpstreamError` for an error chunk."""
        self._enter(Phase.STREAMING, Phase.STREAMING)
        if chunk.error is not None:
            raise chunk_error(chunk.error)
        if chunk.usage is not None:
            self._upstream_usage = chunk.usage
        events: list[Event] = []
        for choice in chunk.choices:
            if choice.index == 0:
                events += self._choice(choice)
        return events

    def finish(self) -> list[Event]:
        """Close everything and end the message; raises `UpstreamError` if the turn never finished."""
        self._enter(Phase.STREAMING, Phase.STREAMING)
        if self._finish_reason is None:
            raise UpstreamError(
                "api_error",
                "Upstream stream ended before the completion finished (no finish_reason); "
                "the provider may have hit its context limit or dropped the request",
                status=502,
            )
        events: list[Event] = []
        for kind, text in self._tags.flush():
            events += self._content(kind, text)
        events += self._close()
        for index in sorted(self._calls):
            if not self._calls[index].done:
                events += self._open_call(index) + self._close()
        self._phase = Phase.DONE
        return [*events, self._message_delta(), {"type": "message_stop"}]

    def fail(self, error_type: str, message: str) -> list[Event]:
        """End the stream with an error event (at most once; nothing follows it)."""
        if self._phase is Phase.DONE:
            return []
        self._phase = Phase.DONE
        return [stream_error(error_type, message)]

    def _enter(self, expected: Phase, then: Phase) -> None:
        if self._phase is not expected:
            raise RuntimeError(f"stream translator is {self._phase.name}, expected {expected.name}")
        self._phase = then

    def _choice(self, choice: ChunkChoice) -> list[Event]:
        delta = choice.delta
        events: list[Event] = []
        if delta.reasoning_details:
            self._reasoning_details.extend(delta.reasoning_details)
        reasoning = delta.reasoning_content or delta.reasoning
        if reasoning:
            self._tags.plain()
            events += self._content(BlockKind.THINKING, reasoning)
        content = delta.content
        if isinstance(content, list):
            parts_thinking = thinking_from_parts(content)
            if parts_thinking:
                self._tags.plain()
                events += self._content(BlockKind.THINKING, parts_thinking)
            content = content_text(content)
        if content:
            for kind, text in self._tags.feed(content):
                events += self._content(kind, text)
        if delta.refusal:
            events += self._content(BlockKind.TEXT, delta.refusal)
        if delta.tool_calls:
            for kind, text in self._tags.flush():
                events += self._content(kind, text)
        for call in delta.tool_calls or ():
            events += self._tool_delta(call)
        if choice.finish_reason:
            if choice.finish_reason == "error":
                raise UpstreamError("api_error", "Upstream provider ended the completion with an error", status=502)
            self._finish_reason = choice.finish_reason
            self._upstream_stop = choice.stop_reason
        return events

    def _content(self, kind: BlockKind, text: str) -> list[Event]:
        events: list[Event] = []
        block = self._block
        if block is None or block.kind is not kind:
            content_block: dict[str, Any] = {"type": kind.value, kind.value: ""}
            if kind is BlockKind.THINKING:
                content_block["signature"] = ""
            events += [*self._close(), self._open(kind, content_block)]
        self._output_chars += len(text)
        delta_type = "thinking_delta" if kind is BlockKind.THINKING else "text_delta"
        events.append(self._delta({"type": delta_type, kind.value: text}))
        return events

    def _open(self, kind: BlockKind, content_block: dict[str, Any], call: int | None = None) -> Event:
        self._block = OpenBlock(self._next_index, kind, call)
        self._next_index += 1
        return {"type": "content_block_start", "index": self._block.index, "content_block": content_block}

    def _delta(self, delta: dict[str, Any]) -> Event:
        assert self._block is not None
        return {"type": "content_block_delta", "index": self._block.index, "delta": delta}

    def _close(self) -> list[Event]:
        block = self._block
        if block is None:
            return []
        events: list[Event] = []
        match block.kind:
            case BlockKind.THINKING:
                signature = thinking_signature(self._reasoning_details or None)
                events.append(self._delta({"type": "signature_delta", "signature": signature}))
            case BlockKind.TOOL_USE:
                assert block.call is not None
                call = self._calls[block.call]
                events += self._arguments(call.arguments.close())
                call.done = True
            case BlockKind.TEXT:
                pass
            case unreachable:
                assert_never(unreachable)
        self._block = None
        return [*events, {"type": "content_block_stop", "index": block.index}]

    def _tool_delta(self, call: ToolCall) -> list[Event]:
        index = self._call_index(call)
        pending = self._calls.setdefault(index, PendingCall())
        pending.merge(call)
        block = self._block
        if block is not None and block.call == index:
            return self._flush_call(pending)
        return self._advance_calls()

    def _advance_calls(self) -> list[Event]:
        """Open the next waiting call once no unfinished call holds the tool_use block."""
        events: list[Event] = []
        while (ready := self._ready_call()) is not None:
            block = self._block
            if block is not None and block.call is not None and not self._calls[block.call].arguments.complete:
                break
            events += self._close() + self._open_call(ready)
        return events

    def _ready_call(self) -> int | None:
        """The lowest waiting call, once its name is known: blocks keep the upstream's call order."""
        open_call = self._block.call if self._block else None
        waiting = (i for i, call in sorted(self._calls.items()) if not call.done and i != open_call)
        first = next(waiting, None)
        return first if first is not None and self._calls[first].name else None

    def _open_call(self, index: int) -> list[Event]:
        call = self._calls[index]
        call_id = id_with_thought_signature(call.id or tool_use_id(), call.thought_signature)
        name = self._translation.names.original(call.name or "")
        content_block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        return [self._open(BlockKind.TOOL_USE, content_block, index), *self._flush_call(call)]

    def _flush_call(self, call: PendingCall) -> list[Event]:
        text = "".join(call.unsent)
        call.unsent.clear()
        return self._arguments(call.arguments.feed(text)) if text else []

    def _arguments(self, text: str) -> list[Event]:
        if not text:
            return []
        self._output_chars += len(text)
        return [self._delta({"type": "input_json_delta", "partial_json": text})]

    def _call_index(self, call: ToolCall) -> int:
        if call.index is not None:
            return call.index
        # Providers that omit the index (Gemini sends whole calls): a new id is a new call.
        for index, pending in self._calls.items():
            if call.id and pending.id == call.id:
                return index
        if call.id or not self._calls:
            return max(self._calls, default=-1) + 1
        return max(self._calls)

    def _message_delta(self) -> Event:
        has_tools = bool(self._calls)
        stop_sequence = matched_stop_sequence(self._upstream_stop, self._translation.stop_sequences)
        reason = "stop_sequence" if stop_sequence else stop_reason(self._finish_reason, has_tools)
        estimate = math.ceil(self._output_chars / _CHARS_PER_TOKEN)
        self.usage = usage_fields(self._upstream_usage, self._input_tokens, estimate)
        return {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": stop_sequence},
            "usage": self.usage,
        }
