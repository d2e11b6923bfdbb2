"""Tool calls that local models write as text, recovered as they stream (pure, incremental).

Models served without a tool parser (or with a chat template the server does not parse) answer a
tool call in their content, in one of these forms:

- Hermes / Qwen 2.5: `<tool_call>{"name": "Read", "arguments": {"file_path": "a.py"}}</tool_call>`;
- Qwen3-Coder: `<tool_call><function=Read><parameter=file_path>a.py</parameter></function></tool_call>`,
  also without the `<tool_call>` wrapper;
- Llama-style: `<function=Read>{"file_path": "a.py"}</function>`;
- a bare JSON call, `{"name": "Read", "arguments": {...}}` (or `"parameters"`), as the whole content.

`TextToolCalls.feed` takes content as it streams and returns pieces: text (`str`) and recovered calls
(`TextCall`). Text before a tag leaves at once; a possible tag start is held only while it can still
become a tag, and a tag until it closes. Only names of tools the request offered count: anything
else stays text, exactly as written. Whitespace between text and a call is dropped (Anthropic refuses
text blocks of only whitespace), so trailing whitespace of text is held until text follows it.
The non-streaming path feeds the whole content at once, so both paths agree piece for piece.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

# Offered (upstream) tool name -> the names of its string parameters (kept as written in
# `<parameter=...>` form; other values are read as JSON when they parse).
TextTools = Mapping[str, frozenset[str]]

_TOOL_CALL: Final = "<tool_call>"
_FUNCTION: Final = "<function="
_OPENERS: Final = (_TOOL_CALL, _FUNCTION)
_CLOSERS: Final = {_TOOL_CALL: "</tool_call>", _FUNCTION: "</function>"}
_FUNCTION_HEAD: Final = re.compile(r"([^>\s]+)>")
_NAME_CHARS: Final = re.compile(r"[^>\s]*\Z")
_PARAMETER: Final = re.compile(r"\s*<parameter=([^>\s]+)>(.*?)</parameter>", re.DOTALL)
_BARE_KEYS: Final = ('"name"', '"arguments"', '"parameters"')
_BARE_HEAD: Final = re.compile(r'\{\s*"(name|arguments|parameters)"')
_BARE_START: Final = re.compile(r'\{\s*("[a-z]*)?\Z')


@dataclass(frozen=True, slots=True)
class TextCall:
    name: str  # the upstream name (as offered; the caller maps it back)
    arguments: dict[str, Any]


Piece = str | TextCall


class TextToolCalls:
    """Content in, text and recovered calls out; see the module docstring."""

    __slots__ = ("_after_call", "_held", "_start", "_tools", "_ws")

    def __init__(self, tools: TextTools) -> None:
        self._tools = tools
        self._held = ""  # content not decided yet (a possible tag, a tag, or a possible bare call)
        self._ws = ""  # trailing whitespace of the text so far: dropped if a call follows
        self._start = True  # only whitespace so far: the content may be a bare JSON call
        self._after_call = False  # whitespace right after a call is dropped

    def feed(self, text: str) -> list[Piece]:
        if not (self._held or self._ws or self._start or self._after_call) and "<" not in text:
            body = text.rstrip()  # the common piece: plain text, nothing held
            self._ws = text[len(body) :]
            return [body] if body else []
        out: list[Piece] = []
        self._scan(self._held + text, False, out)
        return out

    def flush(self) -> list[Piece]:
        """Everything held, at the end of the content (the stream ends or native tool calls begin)."""
        out: list[Piece] = []
        self._scan(self._held, True, out)
        if self._ws and not self._after_call:
            out.append(self._ws)
        self._ws = ""
        self._start = False
        return out

    # -- scanning --

    def _scan(self, buf: str, final: bool, out: list[Piece]) -> None:
        self._held = ""
        if self._start and not self._bare(buf, final, out):
            return
        pos = 0
        while (i := buf.find("<", pos)) >= 0:
            self._text(buf[pos:i], out)
            pos = self._tag(buf, i, final, out)
            if pos < 0:
                return
        self._text(buf[pos:], out)

    def _bare(self, buf: str, final: bool, out: list[Piece]) -> bool:
        """At the start of the content: False while the content is (or may be) one bare JSON call."""
        head = buf.lstrip()
        if not head or head[0] == "{":
            if final:
                self._start = False
                call = self._json_call(head) if head else None
                if call is not None:
                    self._call(call, out)
                    return False
                return True
            if not head or _BARE_HEAD.match(head) or _could_start_bare(head):
                self._held = buf
                return False
        self._start = False
        return True

    def _tag(self, buf: str, i: int, final: bool, out: list[Piece]) -> int:
        """Handle the `<` at `i`: where scanning goes on, or -1 when the rest is held."""
        rest = buf[i:]
        opener = next((o for o in _OPENERS if rest.startswith(o)), None)
        if opener is None or (opener == _FUNCTION and not self._function_head_possible(rest)):
            if opener is None and not final and any(o.startswith(rest) for o in _OPENERS):
                self._held = rest
                return -1
            self._text("<", out)
            return i + 1
        closer = _CLOSERS[opener]
        end = rest.find(closer, len(opener))
        if end < 0 and not final:
            self._held = rest
            return -1
        whole = rest if end < 0 else rest[: end + len(closer)]
        # Unclosed at the end of the content: models often stop before the closing tag.
        call = self._inner_call(opener, rest[len(opener) : end if end >= 0 else len(rest)])
        if call is None:
            self._text(whole, out)
        else:
            self._call(call, out)
        return i + len(whole)

    def _function_head_possible(self, rest: str) -> bool:
        """`<function=NAME>` with NAME an offered tool, or a head that may still become one."""
        head = rest[len(_FUNCTION) :]
        found = _FUNCTION_HEAD.match(head)
        if found is not None:
            return found.group(1) in self._tools
        return _NAME_CHARS.match(head) is not None and any(name.startswith(head) for name in self._tools)

    # -- output --

    def _text(self, text: str, out: list[Piece]) -> None:
        if self._after_call:
            text = text.lstrip()
            if not text:
                return
            self._after_call = False
        text = self._ws + text
        body = text.rstrip()
        self._ws = text[len(body) :]
        if body:
            out.append(body)

    def _call(self, call: TextCall, out: list[Piece]) -> None:
        self._ws = ""
        self._after_call = True
        out.append(call)

    # -- parsing one call --

    def _inner_call(self, opener: str, inner: str) -> TextCall | None:
        inner = inner.strip()
        if opener == _FUNCTION:
            return self._function_call(inner)
        if inner.startswith(_FUNCTION):
            return self._function_call(inner[len(_FUNCTION) :].removesuffix(_CLOSERS[_FUNCTION]).rstrip())
        return self._json_call(inner)

    def _json_call(self, text: str) -> TextCall | None:
        value = _json_object(text)
        if value is None or set(value) - {"name", "arguments", "parameters"}:
            return None
        name = value.get("name")
        arguments = value.get("arguments", value.get("parameters", {}))
        if isinstance(arguments, str):  # arguments as a JSON string, as in OpenAI's tool_calls
            arguments = _json_object(arguments)
        if not isinstance(name, str) or name not in self._tools or not isinstance(arguments, dict):
            return None
        return TextCall(name, arguments)

    def _function_call(self, text: str) -> TextCall | None:
        """`NAME>` then a JSON object or `<parameter=...>` elements (the text after `<function=`)."""
        found = _FUNCTION_HEAD.match(text)
        if found is None or found.group(1) not in self._tools:
            return None
        name = found.group(1)
        body = text[found.end() :].strip()
        if body.startswith("{"):
            arguments = _json_object(body)
            return None if arguments is None else TextCall(name, arguments)
        parameters: dict[str, Any] = {}
        pos = 0
        while (parameter := _PARAMETER.match(body, pos)) is not None:
            key, value = parameter.group(1), _trim_newline(parameter.group(2))
            parameters[key] = value if key in self._tools[name] else _json_value(value)
            pos = parameter.end()
        return TextCall(name, parameters) if not body[pos:].strip() else None


def _could_start_bare(head: str) -> bool:
    """`{` and the start of one of the keys a bare call opens with."""
    found = _BARE_START.match(head)
    if found is None:
        return False
    key = found.group(1)
    return key is None or any(k.startswith(key) for k in _BARE_KEYS)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _json_value(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _trim_newline(value: str) -> str:
    """Qwen3-Coder's template puts each value on lines of its own."""
    value = value[1:] if value.startswith("\n") else value
    return value[:-1] if value.endswith("\n") else value


def recover_calls(text: str, tools: TextTools) -> list[Piece]:
    """The whole content at once: what streaming it would give."""
    parser = TextToolCalls(tools)
    return parser.feed(text) + parser.flush()
