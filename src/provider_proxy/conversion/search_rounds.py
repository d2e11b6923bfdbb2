"""One answer made of several upstream rounds, searches in between (pure; the I/O is in
`services.web_search`).

Round by round the model answers; its calls of the search function become `server_tool_use` blocks,
the proxy runs the searches and adds a `web_search_tool_result` block per call, and the next round
continues the conversation. The client sees one message: one `message_start`, the blocks of every round
numbered on, and at the end one `message_delta` with the last round's stop reason and the usage of all
rounds (`server_tool_use.web_search_requests` counts the searches run).

`Rounds` keeps the count and the rules: each call is run while the tool's `max_uses` allows, else it
gets `max_uses_exceeded`; a next round follows only a turn that ended in searches alone (a client tool
call goes back to the client first), and at most `max_uses + 2` rounds are made: a turn still asking to
search after that ends as `pause_turn`, as Anthropic ends a turn it paused. `SearchMessage` assembles
the non-streaming answer, `SearchEvents` the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, cast

import orjson

from provider_proxy.conversion.anthropic_stream import usage_from
from provider_proxy.conversion.server_tools import (
    SEARCH_TOOL,
    SearchCall,
    SearchSpec,
    add_usage,
    search_calls,
    search_query,
    server_tool_use_id,
)
from provider_proxy.models.anthropic_output import (
    BlockDelta,
    ContentBlock,
    ContentBlockStartEvent,
    ErrorType,
    Message,
    StopReason,
    StreamEvent,
    Usage,
    WebSearchErrorCode,
    WebSearchToolResultContent,
)

# Rounds beyond max_uses: one to answer after the last search, one more to absorb a stray call.
_EXTRA_ROUNDS: Final = 2


@dataclass(frozen=True, slots=True)
class Step:
    """What to do for one call: run `query`, or answer with `error`."""

    call: SearchCall
    query: str | None
    error: WebSearchErrorCode | None = None


class Rounds:
    def __init__(self, spec: SearchSpec) -> None:
        self.spec = spec
        self.rounds = 0
        self.searches = 0
        self.calls_made = 0
        # Searches the provider ran itself (an Anthropic-API target given the server tool as sent).
        self.native = 0

    @property
    def search_offered(self) -> bool:
        """Whether the next round still offers the search function."""
        return self.searches < self.spec.max_uses

    def plan(self, calls: list[SearchCall]) -> list[Step]:
        steps = []
        for call in calls:
            self.calls_made += 1
            query, error = search_query(call.input)
            if query is None:
                steps.append(Step(call, None, error))
            elif self.searches >= self.spec.max_uses:
                steps.append(Step(call, None, "max_uses_exceeded"))
            else:
                self.searches += 1
                steps.append(Step(call, query))
        return steps

    def next_round(self, calls: list[SearchCall], stop: StopReason | None, client_tools: bool) -> bool:
        """Whether another round follows the one that made `calls` and ended with `stop`."""
        return bool(calls) and stop == "tool_use" and not client_tools and not self.exhausted

    @property
    def exhausted(self) -> bool:
        return self.rounds >= self.spec.max_uses + _EXTRA_ROUNDS

    def final_stop(self, calls: list[SearchCall], stop: StopReason | None, client_tools: bool) -> StopReason | None:
        """The stop reason the client sees: a turn cut off while it still searched is paused."""
        if calls and stop == "tool_use" and not client_tools:
            return "pause_turn"
        return stop

    def usage(self, usage: Usage) -> Usage:
        if self.calls_made or self.native:
            return {**usage, "server_tool_use": {"web_search_requests": self.searches + self.native}}
        return usage

    def counted(self, usage: object, start: object = None) -> Usage:
        """A round's usage in the four counts the record keeps (a stream's `message_delta` counts over
        those of its `message_start`, as Anthropic's cumulative ones are; a translated round has all
        four in either), the searches its provider ran itself tallied."""
        counts = usage_from(usage, usage_from(start))
        server = usage.get("server_tool_use") if isinstance(usage, dict) else None
        searched = server.get("web_search_requests") if isinstance(server, dict) else None
        if isinstance(searched, int) and not isinstance(searched, bool) and searched > 0:
            self.native += searched
        return counts


class SearchMessage:
    """The non-streaming answer, round by round."""

    def __init__(self, spec: SearchSpec) -> None:
        self.rounds = Rounds(spec)
        self.content: list[ContentBlock] = []
        self._first: Message | None = None
        self._last: Message | None = None
        self._usage: Usage | None = None
        self.calls: list[SearchCall] = []
        self.client_tools = False

    def add(self, message: Message) -> list[Step]:
        """One round's answer; the steps for its searches."""
        self.rounds.rounds += 1
        self._first = self._first or message
        self._last = message
        blocks, self.calls = search_calls(message["content"])
        self.content += blocks
        self.client_tools = any(block["type"] == "tool_use" for block in blocks)
        usage = self.rounds.counted(message["usage"])
        self._usage = usage if self._usage is None else add_usage(self._usage, usage)
        return self.rounds.plan(self.calls)

    def add_results(self, blocks: list[WebSearchToolResultContent]) -> None:
        self.content += blocks

    @property
    def next_round(self) -> bool:
        return self._last is not None and self.rounds.next_round(
            self.calls, self._last["stop_reason"], self.client_tools
        )

    def message(self) -> Message:
        assert self._first is not None and self._last is not None and self._usage is not None
        stop = self.rounds.final_stop(self.calls, self._last["stop_reason"], self.client_tools)
        return {
            **self._first,
            "content": self.content,
            "stop_reason": stop,
            "stop_sequence": self._last["stop_sequence"],
            "usage": self.rounds.usage(self._usage),
        }


class SearchEvents:
    """The stream: each round's events renumbered into one message, search calls as `server_tool_use`
    blocks, the rounds' `message_delta`/`message_stop` held until the last round."""

    def __init__(self, spec: SearchSpec) -> None:
        self.rounds = Rounds(spec)
        self._offset = 0
        self._next_index = 0
        self._started = False
        # Client index of a search call of this round -> its id, input at the start and argument JSON.
        self._open: dict[int, tuple[str, dict[str, Any], list[str]]] = {}
        self.calls: list[SearchCall] = []
        self.client_tools = False
        self.round_over = False
        self.failed = False
        self.usage: Usage | None = None
        self._round_start: object = None
        self._stop: StopReason | None = None
        self._stop_sequence: str | None = None
        self.stop_reason: StopReason | None = None
        self.error_type: ErrorType | None = None
        # The blocks so far, built from the events (the next round's request repeats them).
        self.content: list[ContentBlock] = []
        self._building: dict[int, tuple[dict[str, Any], list[str]]] = {}

    def feed(self, events: list[StreamEvent]) -> list[StreamEvent]:
        """The client's events for some of the current round's."""
        out: list[StreamEvent] = []
        for event in events:
            if event["type"] == "message_start":
                self._round_start = event["message"].get("usage")
                if not self._started:
                    self._started = True
                    out.append(event)
            elif event["type"] == "content_block_start":
                out.append(self._block_start(event))
            elif event["type"] == "content_block_delta":
                index = event["index"] + self._offset
                call = self._open.get(index)
                if call is not None and event["delta"]["type"] == "input_json_delta":
                    call[2].append(event["delta"]["partial_json"])
                self._build(index, event["delta"])
                out.append({**event, "index": index})
            elif event["type"] == "content_block_stop":
                index = event["index"] + self._offset
                self._built(index)
                out.append({**event, "index": index})
            elif event["type"] == "message_delta":
                self._stop, self._stop_sequence = event["delta"]["stop_reason"], event["delta"].get("stop_sequence")
                usage = self.rounds.counted(event.get("usage"), self._round_start)
                self.usage = usage if self.usage is None else add_usage(self.usage, usage)
            elif event["type"] == "message_stop":
                self._end_round()
            else:
                if event["type"] == "error":
                    self.failed = True
                    self.error_type = event["error"]["type"]
                out.append(event)
        return out

    def _block_start(self, event: ContentBlockStartEvent) -> StreamEvent:
        index = event["index"] + self._offset
        self._next_index = index + 1
        block = event["content_block"]
        if block["type"] == "tool_use" and block["name"] == SEARCH_TOOL:
            call_id = server_tool_use_id()
            self._open[index] = (call_id, block["input"], [])
            block = {"type": "server_tool_use", "id": call_id, "name": SEARCH_TOOL, "input": block["input"]}
        elif block["type"] == "tool_use":
            self.client_tools = True
        self._building[index] = (dict(block), [])
        return {"type": "content_block_start", "index": index, "content_block": block}

    def _build(self, index: int, delta: BlockDelta) -> None:
        building = self._building.get(index)
        if building is None:
            return
        block, pieces = building
        if delta["type"] == "text_delta":
            block["text"] = block.get("text", "") + delta["text"]
        elif delta["type"] == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + delta["thinking"]
        elif delta["type"] == "signature_delta":
            block["signature"] = delta["signature"]
        elif delta["type"] == "input_json_delta":
            pieces.append(delta["partial_json"])

    def _built(self, index: int) -> None:
        building = self._building.pop(index, None)
        if building is None:
            return
        block, pieces = building
        if pieces:
            arguments = _arguments("".join(pieces))
            block["input"] = arguments if isinstance(arguments, dict) else {}
        self.content.append(cast(ContentBlock, block))

    def _end_round(self) -> None:
        self.rounds.rounds += 1
        self.calls = [
            SearchCall(call_id, _arguments("".join(pieces)) if pieces else start)
            for call_id, start, pieces in self._open.values()
        ]
        self._open = {}
        self.round_over = True

    def steps(self) -> list[Step]:
        return self.rounds.plan(self.calls)

    @property
    def next_round(self) -> bool:
        return self.rounds.next_round(self.calls, self._stop, self.client_tools)

    def results(self, blocks: list[WebSearchToolResultContent]) -> list[StreamEvent]:
        """The result blocks of the round's searches; the next round's blocks are numbered after them."""
        out: list[StreamEvent] = []
        for block in blocks:
            index = self._next_index
            self._next_index += 1
            self.content.append(block)
            out.append({"type": "content_block_start", "index": index, "content_block": block})
            out.append({"type": "content_block_stop", "index": index})
        return out

    def begin_round(self) -> None:
        self._offset = self._next_index
        self.calls, self.client_tools, self.round_over = [], False, False

    def finish(self) -> list[StreamEvent]:
        """The one `message_delta` and `message_stop` of the whole answer."""
        stop = self.rounds.final_stop(self.calls, self._stop, self.client_tools) or "end_turn"
        usage = self.rounds.usage(self.usage or _NO_USAGE)
        self.usage, self.stop_reason = usage, stop
        return [
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": self._stop_sequence},
                "usage": usage,
            },
            {"type": "message_stop"},
        ]


_NO_USAGE: Final[Usage] = {
    "input_tokens": 0,
    "output_tokens": 0,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
}


def _arguments(text: str) -> object:
    """A search call's arguments; broken JSON is the model's invalid input (no object, no query)."""
    try:
        return orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        return None
