"""Server-sent events: one incremental decoder for upstream streams, one encoder for ours.

The decoder follows the WHATWG event-stream rules: lines end in CRLF, LF or CR; lines starting with
`:` are comments (`: keep-alive` from DeepSeek, `: OPENROUTER PROCESSING`); `data:` lines of one
event are joined with newlines; a blank line dispatches the event. Bytes may be split anywhere,
including inside a UTF-8 character or between the CR and LF of one line ending.
"""

from __future__ import annotations

import codecs
import re
from typing import Any, Final, NamedTuple

import orjson

_LINE_END: Final = re.compile(r"\r\n|\r|\n")
_BOM: Final = "\ufeff"


class ServerSentEvent(NamedTuple):
    # A named tuple, not a frozen dataclass: one is built per upstream chunk, and this is 3x cheaper.
    data: str
    event: str = "message"


class SSEDecoder:
    """Feed raw bytes, get the complete events they finish."""

    __slots__ = ("_data", "_event", "_pending", "_skip_lf", "_started", "_utf8")

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
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
        return self._lines(self._pending + text)

    def close(self) -> list[ServerSentEvent]:
        """End of stream: an unterminated last event is still delivered (lenient for sloppy servers)."""
        events = self._lines(self._pending + self._utf8.decode(b"", final=True) + "\n\n")
        self._pending = ""
        return events

    def _lines(self, text: str) -> list[ServerSentEvent]:
        if not self._started and text:
            self._started = True
            text = text.removeprefix(_BOM)
        events: list[ServerSentEvent] = []
        # Most upstreams end lines with LF alone: str.split is 5x faster than the regex that also takes CR.
        parts = _LINE_END.split(text) if "\r" in text else text.split("\n")
        # The last part has no line ending yet; a trailing CR may be the first half of a CRLF.
        self._pending = parts.pop()
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


def encode(event_type: str, payload: dict[str, Any]) -> bytes:
    """One SSE frame; orjson never writes a raw newline, so the payload fits on one data line."""
    return b"event: " + event_type.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"
