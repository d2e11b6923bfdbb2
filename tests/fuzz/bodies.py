"""Hypothesis strategies for Anthropic request bodies: odd but valid ones (deep nesting, huge strings,
every corner of unicode, lone surrogates, every block and source kind, server tools), and invalid
ones made from them (wrong types, missing fields, unknown block types, empty arrays, nulls
everywhere, bytes that are not JSON at all)."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

MODELS = [
    "claude-sonnet-4-6",
    "claude-haiku-4-5-20251001",
    "claude-opus-5-5",
    "tiny-model",
    "gpt-4.1",
    "default/o4-mini",
    *(f"{kind}/model-{kind}" for kind in ("openai", "azure", "openrouter", "gemini", "groq", "mistral", "xai")),
    "deepseek/deepseek-reasoner",
    "together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "ollama/qwen3-coder:30b",
]

# Text that reaches every corner of Unicode (control characters, astral planes, right-to-left marks,
# byte-order marks, text that looks like markup or SSE), and now and then a few hundred kilobytes.
# Lone surrogates are not valid text (Anthropic refuses them too): they are among the invalid values.
_text = st.one_of(
    st.text(),
    st.text(st.characters(codec="utf-8", exclude_categories=())),
    st.sampled_from(["", " ", "\x00", "\u202e", "\ufeff", "\U0001f600" * 3, "</think>", "data: x\n\n", "\r\n\r\n"]),
)
# One string in twenty is huge (a body holds many strings, and most bodies should fit the size limit).
odd_text = st.integers(0, 19).flatmap(lambda n: st.integers(1, 400_000).map(lambda k: "x" * k) if n == 0 else _text)
lone_surrogates = st.sampled_from(["\ud800", "\udfff", "a\udc00b", "\ud83d"])
names = st.one_of(st.sampled_from(["Read", "Bash", "mcp__server__" + "n" * 80, "a" * 65]), odd_text)
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    odd_text,
)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(odd_text, inner, max_size=4)),
    max_leaves=20,
)


@st.composite
def deep(draw: st.DrawFn) -> Any:
    """JSON nested up to a little below the proxy's limit (254 levels), arrays and objects mixed."""
    value: Any = draw(json_leaf)
    for level in range(draw(st.integers(0, 200))):
        value = [value] if level % 3 else {"k": value}
    return value


free_json_object = st.dictionaries(odd_text, st.one_of(json_values, deep()), max_size=5)
cache_control = st.one_of(st.none(), st.just({"type": "ephemeral"}), st.just({"type": "ephemeral", "ttl": "1h"}))


def _block(kind: str, **fields: Any) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"type": st.just(kind), **fields}, optional={"cache_control": cache_control})


text_block = _block("text", text=odd_text)
image_source = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("base64"),
            "media_type": st.sampled_from(["image/png", "image/jpeg", "image/x"]),
            "data": odd_text,
        }
    ),
    st.fixed_dictionaries({"type": st.just("url"), "url": odd_text}),
    st.fixed_dictionaries({"type": st.just("file"), "file_id": odd_text}),
)
document_source = st.one_of(
    st.fixed_dictionaries({"type": st.just("base64"), "media_type": st.just("application/pdf"), "data": odd_text}),
    st.fixed_dictionaries({"type": st.just("text"), "media_type": st.just("text/plain"), "data": odd_text}),
    st.fixed_dictionaries({"type": st.just("url"), "url": odd_text}),
    st.fixed_dictionaries({"type": st.just("file"), "file_id": odd_text}),
    st.fixed_dictionaries(
        {"type": st.just("content"), "content": st.one_of(odd_text, st.lists(st.one_of(text_block, free_json_object)))}
    ),
)
image_block = _block("image", source=image_source)
document_block = st.fixed_dictionaries(
    {"type": st.just("document"), "source": document_source}, optional={"title": st.one_of(st.none(), odd_text)}
)
search_result = _block("search_result", source=odd_text, title=odd_text, content=st.lists(text_block, max_size=3))


def _proxy_shaped(value: Any) -> str:
    """Opaque state in the shape the proxy issues it (a thinking signature, a tool_use id carrying a
    thought signature), around any content: a client may send back anything."""
    return "ppx1." + base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


signatures = st.one_of(
    odd_text,
    st.none(),
    json_values.map(_proxy_shaped),
    st.dictionaries(st.just("rd"), json_values).map(_proxy_shaped),
    odd_text.map(lambda text: "ppx1." + text),
)
# Tool ids that carry a thought signature: the id, a mark, the signature base64-encoded (or not quite).
tool_ids = st.one_of(
    odd_text,
    st.tuples(odd_text, odd_text).map(lambda pair: f"{pair[0]}__ts_{pair[1]}"),
    st.tuples(odd_text, st.binary()).map(lambda pair: f"{pair[0]}__ts_{base64.urlsafe_b64encode(pair[1]).decode()}"),
)
tool_use = _block(
    "tool_use", id=tool_ids, name=names, input=st.one_of(free_json_object, deep().map(lambda d: {"d": d}))
)
result_part = st.one_of(
    text_block, image_block, document_block, search_result, _block("tool_reference", tool_name=names), free_json_object
)
tool_result = st.fixed_dictionaries(
    {"type": st.just("tool_result"), "tool_use_id": tool_ids},
    optional={"content": st.one_of(st.none(), odd_text, st.lists(result_part, max_size=4)), "is_error": st.booleans()},
)


thinking = st.fixed_dictionaries(
    {"type": st.just("thinking"), "thinking": odd_text}, optional={"signature": signatures}
)
server_blocks = st.one_of(
    _block("server_tool_use", id=odd_text, name=st.sampled_from(["web_search", "web_fetch"]), input=free_json_object),
    _block(
        "web_search_tool_result",
        tool_use_id=odd_text,
        content=st.one_of(
            st.lists(_block("web_search_result", url=odd_text, title=odd_text, encrypted_content=odd_text), max_size=3),
            _block("web_search_tool_result_error", error_code=odd_text),
        ),
    ),
    # Results of server tools the proxy does not run are dropped whatever they hold.
    _block("web_fetch_tool_result", tool_use_id=odd_text, content=json_values),
    _block("redacted_thinking", data=odd_text),
    st.fixed_dictionaries({"type": odd_text}, optional={"data": json_values}),
)
content_block = st.one_of(
    text_block, image_block, document_block, tool_use, tool_result, thinking, search_result, server_blocks
)
message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "user", "assistant", "system"]),
        "content": st.one_of(odd_text, st.lists(content_block, max_size=5)),
    }
)


@st.composite
def tool_loop(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Turns as Claude Code sends them: a question, then rounds of an assistant turn (thinking, text,
    tool calls) and a user turn of their results, which now and then miss a call, answer one twice,
    answer one that was never made, or come out of order."""
    turns: list[dict[str, Any]] = [{"role": "user", "content": draw(odd_text)}]
    for _ in range(draw(st.integers(0, 3))):
        ids = draw(st.lists(tool_ids, max_size=4))
        extras = draw(st.lists(st.one_of(thinking, text_block), max_size=2))
        calls = [draw(tool_use).copy() | {"id": call_id} for call_id in ids]
        turns.append({"role": "assistant", "content": [*extras, *calls]})
        answered = draw(st.lists(st.sampled_from([*ids, "never-called"]), max_size=5)) if ids else []
        results = [draw(tool_result) | {"tool_use_id": call_id} for call_id in answered]
        turns.append({"role": "user", "content": [*results, *draw(st.lists(text_block, max_size=1))]})
    return turns


tool = st.one_of(
    st.fixed_dictionaries(
        {"name": names, "input_schema": st.one_of(free_json_object, deep().map(lambda d: {"type": "object", "x": d}))},
        optional={"description": odd_text, "type": st.just("custom"), "cache_control": cache_control},
    ),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["web_search_20250305", "web_fetch_20250910", "bash_20250124", "x_20990101"]),
            "name": names,
        },
        optional={"max_uses": st.integers(0, 10)},
    ),
)
tool_choice = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["auto", "any", "none"])}, optional={"disable_parallel_tool_use": st.booleans()}
    ),
    st.fixed_dictionaries({"type": st.just("tool"), "name": names}),
)
thinking_config = st.one_of(
    st.fixed_dictionaries({"type": st.just("enabled"), "budget_tokens": st.integers(0, 2**40)}),
    st.fixed_dictionaries({"type": st.sampled_from(["disabled", "adaptive"])}),
)
optional_fields = {
    "system": st.one_of(odd_text, st.lists(text_block, max_size=3)),
    "stream": st.booleans(),
    "stop_sequences": st.lists(odd_text, max_size=6),
    "temperature": st.floats(0, 1),
    "top_p": st.floats(0, 1),
    "top_k": st.integers(0, 2**31),
    "tools": st.lists(tool, max_size=5),
    "tool_choice": tool_choice,
    "thinking": thinking_config,
    "metadata": st.fixed_dictionaries({}, optional={"user_id": st.one_of(st.none(), odd_text)}),
    "output_config": st.fixed_dictionaries(
        {},
        optional={"effort": odd_text, "format": st.fixed_dictionaries({"type": odd_text, "schema": free_json_object})},
    ),
    "context_management": st.fixed_dictionaries(
        {"edits": st.lists(st.fixed_dictionaries({"type": odd_text, "keep": json_values}), max_size=2)}
    ),
    "an_unknown_field": json_values,
}
valid_bodies = st.fixed_dictionaries(
    {
        "model": st.one_of(st.sampled_from(MODELS), odd_text.filter(bool)),
        "max_tokens": st.integers(1, 2**63 - 1),
        "messages": st.one_of(st.lists(message, min_size=1, max_size=5), tool_loop()),
    },
    optional=optional_fields,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value (keys and indexes from the top)."""
    children: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    found = [prefix] if prefix else []
    for key, child in children[:20]:
        found += _paths(child, (*prefix, key))
    return found[:400]


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    return [_replace(item, rest, new) if index == head else item for index, item in enumerate(value)]


def _without(value: Any, path: tuple[Any, ...]) -> Any:
    if len(path) == 1:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != path[0]}
        return [item for index, item in enumerate(value) if index != path[0]]
    head = path[0]
    if isinstance(value, dict):
        return {**value, head: _without(value[head], path[1:])}
    return [_without(item, path[1:]) if index == head else item for index, item in enumerate(value)]


def _nulls_everywhere(value: Any, depth: int) -> Any:
    if depth == 0:
        return None
    if isinstance(value, dict):
        return {key: _nulls_everywhere(item, depth - 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_nulls_everywhere(item, depth - 1) for item in value]
    return None


wrong_values = st.one_of(st.none(), st.just([]), st.just({}), st.just(""), json_values, deep(), lone_surrogates)


@st.composite
def invalid_bodies(draw: st.DrawFn) -> Any:
    """A valid body broken in one to three places (a value of the wrong type, a field removed), or
    with nulls at every leaf below some depth, or not an object at all."""
    body: Any = draw(valid_bodies)
    how = draw(st.sampled_from(["replace", "replace", "remove", "nulls", "not an object"]))
    if how == "nulls":
        return _nulls_everywhere(body, draw(st.integers(1, 5)))
    if how == "not an object":
        return draw(st.one_of(json_leaf, st.lists(json_values), st.just([body])))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(body)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        body = _without(body, path) if how == "remove" else _replace(body, path, draw(wrong_values))
    return body


def encode(body: Any) -> bytes:
    """JSON as a client might send it; lone surrogates leave as `\\udxxx` escapes (orjson refuses them)."""
    return json.dumps(body).encode()


# Bodies that are not JSON, or not quite: random bytes, a valid body cut short, a byte replaced (invalid
# UTF-8 among others), the non-JSON numbers some encoders write.
@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    content = encode(draw(valid_bodies))
    how = draw(st.sampled_from(["bytes", "cut short", "byte replaced", "non-JSON number"]))
    if how == "bytes":
        return draw(st.binary(max_size=2000))
    if how == "cut short":
        return content[: draw(st.integers(0, len(content) - 1))]
    if how == "byte replaced":
        at = draw(st.integers(0, len(content) - 1))
        return content[:at] + draw(st.binary(min_size=1, max_size=4)) + content[at + 1 :]
    number = draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-0", b"1E+2"]))
    return content.replace(b'"max_tokens": ', b'"max_tokens": ' + number + b', "n": ', 1)
