"""Server-sent events: one incremental decoder for upstream streams, one encoder for ours.

The decoder follows the WHATWG event-stream rules: lines end in CRLF, LF or CR; lines starting with
`:` are comments (`: keep-alive` from DeepSeek, `: OPENROUTER PROCESSING`); `data:` lines of one
event are joined with newlines; a blank line dispatches the event. Bytes may be split anywhere,
including inside a UTF-8 character or between the CR and LF of one line ending.

Each byte is scanned once: a read without a line ending only grows the unfinished line, which is
joined and split when its end arrives. One line may hold at most `max_line` characters (1 MiB by
default); a longer one, finished or not, raises `LineTooLong`, so an upstream cannot make the proxy
buffer without bound.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Mapping
from typing import Final, NamedTuple

import orjson

from provider_proxy.models.anthropic_output import StreamEvent

_LINE_END: Final = re.compile(r"\r\n|\r|\n")
_BOM: Final = "\ufeff"
DEFAULT_MAX_LINE: Final = 1024 * 1024


class LineTooLong(ValueError):
    """An event-stream line longer than the decoder's `max_line` characters."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"an event-stream line is longer than {limit} characters")
        self.limit = limit


class ServerSentEvent(NamedTuple):
    # A named tuple, not a frozen dataclass: one is built per upstream chunk, and this is 3x cheaper.
    data: str
    event: str = "message"


# The named tuple's own constructor is a Python function; this builds the same tuple at C speed.
_new_event = tuple.__new__


class SSEDecoder:
    """Feed raw bytes, get the complete events they finish."""

    __slots__ = ("_data", "_event", "_max_line", "_pending", "_pending_size", "_skip_lf", "_started", "_utf8")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_line = max_line
        # The unfinished last line, in the pieces it arrived in, and its length.
        self._pending: list[str] = []
        self._pending_size = 0
        self._data: list[str] = []
        self._event = ""
        self._started = False
        self._skip_lf = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        text = self._utf8.decode(chunk)
        if self._skip_lf and text:
            # The previous chunk ended in CR: an LF now is the second half of that line ending.
            self._skip_lf = False
            text = text.removeprefix("\n")
        if not self._started and text:
            self._started = True
            text = text.removeprefix(_BOM)
        if "\n" not in text and "\r" not in text:
            # No line ends here: the unfinished line grows, and nothing before it is scanned again.
            if text:
                self._grow(text)
            return []
        if self._pending:
            text = "".join(self._pending) + text
            self._pending.clear()
            self._pending_size = 0
        if len(text) > self._max_line:
            self._check_lines(text)
        if "\r" in text or self._data or self._event:
            return self._lines(text)
        return self._events(text)

    def _events(self, text: str) -> list[ServerSentEvent]:
        """LF-only text with no event in progress (the common case): whole events at once.

        An event that is one `data: ...` line is taken as it is; anything else (comments, several
        fields, blank-line runs) goes through the line rules."""
        blocks = text.split("\n\n")
        events: list[ServerSentEvent] = []
        for block in blocks[:-1]:
            if block.startswith("data: ") and "\n" not in block:
                events.append(_new_event(ServerSentEvent, (block[6:], "message")))
            elif block:
                events += self._lines(block + "\n\n")
        return events + self._lines(blocks[-1])

    def close(self) -> list[ServerSentEvent]:
        """End of stream: an unterminated last event is still delivered (lenient for sloppy servers)."""
        tail = self._utf8.decode(b"", final=True)
        if not self._started and tail:
            tail = tail.removeprefix(_BOM)
        events = self._lines("".join(self._pending) + tail + "\n\n")
        self._pending.clear()
        self._pending_size = 0
        return events

    def _grow(self, text: str) -> None:
        self._pending.append(text)
        self._pending_size += len(text)
        if self._pending_size > self._max_line:
            raise LineTooLong(self._max_line)

    def _check_lines(self, text: str) -> None:
        """Text longer than the limit (rare): no line of it may be."""
        if max(map(len, _LINE_END.split(text))) > self._max_line:
            raise LineTooLong(self._max_line)

    def _lines(self, text: str) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        # Most upstreams end lines with LF alone: str.split is 5x faster than the regex that also takes CR.
        parts = _LINE_END.split(text) if "\r" in text else text.split("\n")
        # The last part has no line ending yet; a trailing CR may be the first half of a CRLF.
        last = parts.pop()
        if last:
            self._pending.append(last)
            self._pending_size = len(last)
        if text:
            self._skip_lf = text.endswith("\r")
        for line in parts:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        # `id` and `retry` mean nothing to a proxy reading one response; unknown fields are ignored.
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerSentEvent(data="\n".join(data), event=event or "message")


def encode(event_type: str, payload: Mapping[str, object]) -> bytes:
    """One SSE frame; orjson never writes a raw newline, so the payload fits on one data line."""
    return b"event: " + event_type.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def encode_all(events: Iterable[StreamEvent]) -> bytes:
    """The frames of several events, named by their `type`, as one write."""
    return b"".join([encode(event["type"], event) for event in events])
