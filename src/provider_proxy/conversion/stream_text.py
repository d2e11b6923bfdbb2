"""Text that streams in pieces: tool-call argument JSON kept parseable, and `<think>` tags split off.

Both are small incremental parsers used by `conversion.stream`; neither does I/O.
"""

from __future__ import annotations

import re
from enum import Enum, auto
from typing import Final, assert_never

import orjson

from provider_proxy.conversion.response import parse_arguments

_OPEN_TAG: Final = "<think>"
_CLOSE_TAG: Final = "</think>"
_STRING_RUN: Final = re.compile(r'[^"\\]*')


class BlockKind(Enum):
    THINKING = "thinking"
    TEXT = "text"
    TOOL_USE = "tool_use"


class _JsonMode(Enum):
    UNDECIDED = auto()  # only whitespace so far
    STREAM = auto()  # an object: fragments pass through as they come
    BUFFER = auto()  # anything else: held, repaired and sent whole at the end


class ArgumentStream:
    """Tool-call argument fragments -> `input_json_delta` text that stays a parseable JSON prefix.

    Clients parse the accumulated fragments as partial JSON after every delta (the anthropic SDK
    raises on an invalid prefix), so a comma is held until a value follows it (a trailing comma
    before `}` is dropped) and text after the top-level object is dropped. Arguments that do not
    start with `{` are buffered and sent once, repaired by the non-streaming path's rules.
    """

    __slots__ = ("_ended", "_escape", "_held", "_in_string", "_mode", "_raw", "_sent", "_stack")

    def __init__(self) -> None:
        self._raw: list[str] = []
        self._sent: list[str] = []
        self._mode = _JsonMode.UNDECIDED
        self._stack: list[str] = []
        self._in_string = False
        self._escape = False
        self._held = ""
        self._ended = False

    @property
    def complete(self) -> bool:
        return self._ended

    def feed(self, fragment: str) -> str:
        self._raw.append(fragment)
        if self._mode is _JsonMode.UNDECIDED:
            text = "".join(self._raw)
            head = text.lstrip()
            if not head:
                return ""
            self._mode = _JsonMode.STREAM if head.startswith("{") else _JsonMode.BUFFER
            fragment = head
        if self._mode is not _JsonMode.STREAM:
            return ""
        out = self._scan(fragment)
        self._sent.append(out)
        return out

    def close(self) -> str:
        """The text that completes the arguments, so the client ends up with a JSON object."""
        raw = "".join(self._raw)
        if self._mode is not _JsonMode.STREAM:
            return orjson.dumps(parse_arguments(raw)).decode() if raw.strip() else ""
        sent = "".join(self._sent)
        suffix = ('"' if self._in_string else "") + "".join(reversed(self._stack))
        for candidate in ("", suffix):
            try:
                if isinstance(orjson.loads(sent + candidate), dict):
                    return candidate
            except orjson.JSONDecodeError:
                continue
        return ""

    def _scan(self, fragment: str) -> str:
        out: list[str] = []
        i, end = 0, len(fragment)
        while i < end and not self._ended:
            if self._in_string and not self._escape:
                run = _STRING_RUN.match(fragment, i)
                run_end = run.end() if run else i
                if run_end > i:
                    out.append(fragment[i:run_end])
                    i = run_end
                    continue
            self._char(fragment[i], out)
            i += 1
        return "".join(out)

    def _char(self, char: str, out: list[str]) -> None:
        if self._in_string:
            if self._escape:
                self._escape = False
                out.append("\\" + char)
            elif char == "\\":
                self._escape = True  # held until the escaped character arrives
            else:
                self._in_string = char != '"'
                out.append(char)
        elif char in " \t\r\n":
            if self._held:
                self._held += char
            else:
                out.append(char)
        elif char == ",":
            self._held = self._held or ","
        elif char in "}]":
            self._held = ""
            if self._stack and self._stack[-1] == char:
                self._stack.pop()
                out.append(char)
                self._ended = not self._stack
        else:
            out.append(self._held + char)
            self._held = ""
            if char in "{[":
                self._stack.append("}" if char == "{" else "]")
            self._in_string = char == '"'


class _TagPhase(Enum):
    OPENING = auto()  # content so far could still be the start of "<think>"
    INSIDE = auto()
    AFTER = auto()  # right after "</think>": whitespace is dropped
    PLAIN = auto()


class ThinkTags:
    """Reasoning inline in content as `<think>...</think>` at the start, split off as it streams.

    Mirrors `conversion.response.split_think_tags`: the reasoning is stripped and whitespace after
    the closing tag is dropped.
    """

    __slots__ = ("_held", "_phase", "_thought")

    def __init__(self) -> None:
        self._phase = _TagPhase.OPENING
        self._held = ""
        self._thought = False

    @property
    def passthrough(self) -> bool:
        """True once content can only be text: what is fed comes out unchanged."""
        return self._phase is _TagPhase.PLAIN

    def plain(self) -> None:
        """The provider sends reasoning in its own field, so content is never split."""
        if self._phase is _TagPhase.OPENING and not self._held:
            self._phase = _TagPhase.PLAIN

    def feed(self, text: str) -> list[tuple[BlockKind, str]]:
        match self._phase:
            case _TagPhase.OPENING:
                return self._opening(self._held + text)
            case _TagPhase.INSIDE:
                return self._inside(self._held + text)
            case _TagPhase.AFTER:
                text = text.lstrip()
                if not text:
                    return []
                self._phase = _TagPhase.PLAIN
                return [(BlockKind.TEXT, text)]
            case _TagPhase.PLAIN:
                return [(BlockKind.TEXT, text)]
            case unreachable:
                assert_never(unreachable)

    def flush(self) -> list[tuple[BlockKind, str]]:
        """What is held back, at the end of the content (the stream ends or tool calls begin)."""
        held, self._held = self._held, ""
        if self._phase is _TagPhase.OPENING:
            self._phase = _TagPhase.PLAIN
            return [(BlockKind.TEXT, held)] if held else []
        if self._phase is _TagPhase.INSIDE and held.strip():
            return [(BlockKind.THINKING, held.strip())]
        return []

    def _opening(self, text: str) -> list[tuple[BlockKind, str]]:
        head = text.lstrip()
        if _OPEN_TAG.startswith(head):
            self._held = text
            return []
        self._held = ""
        if head.startswith(_OPEN_TAG):
            self._phase = _TagPhase.INSIDE
            return self._inside(head[len(_OPEN_TAG) :])
        self._phase = _TagPhase.PLAIN
        return [(BlockKind.TEXT, text)]

    def _inside(self, text: str) -> list[tuple[BlockKind, str]]:
        if not self._thought:
            text = text.lstrip()
        close = text.find(_CLOSE_TAG)
        if close >= 0:
            self._held = ""
            self._phase = _TagPhase.AFTER
            thought = text[:close].rstrip()
            parts = [(BlockKind.THINKING, thought)] if thought else []
            return parts + self.feed(text[close + len(_CLOSE_TAG) :])
        keep = next((n for n in range(len(_CLOSE_TAG) - 1, 0, -1) if text.endswith(_CLOSE_TAG[:n])), 0)
        body = text[: len(text) - keep]
        thought = body.rstrip()
        self._held = body[len(thought) :] + text[len(body) :]
        if not thought:
            return []
        self._thought = True
        return [(BlockKind.THINKING, thought)]
