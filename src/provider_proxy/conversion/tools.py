"""Tool names, tool-call ids and JSON schemas, made acceptable to OpenAI-compatible providers.

OpenAI caps function names at 64 characters of `[a-zA-Z0-9_-]`; MCP tools easily exceed that. A
name that does not fit is shortened stably (same name, same result, in every request) and mapped back
when the model calls it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any, Final

_VALID_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_INVALID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_MAX_NAME = 64
_HASH_LEN = 8
_ALNUM: Final = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def upstream_tool_name(name: str) -> str:
    """The name to offer upstream: unchanged when valid, else sanitised and suffixed with a hash."""
    if _VALID_NAME.match(name):
        return name
    stem = _INVALID_CHARS.sub("_", name)[: _MAX_NAME - _HASH_LEN - 1] or "tool"
    return f"{stem}_{_digest(name).hex()[:_HASH_LEN]}"


class ToolNames:
    """Both directions of the name mapping for one request."""

    __slots__ = ("_back",)

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._back: dict[str, str] = {}
        for name in names:
            self.upstream(name)

    def upstream(self, name: str) -> str:
        short = upstream_tool_name(name)
        if short != name:
            self._back[short] = name
        return short

    def original(self, upstream_name: str) -> str:
        return self._back.get(upstream_name, upstream_name)


def alnum9_id(tool_call_id: str) -> str:
    """A stable 9-character alphanumeric id (Mistral accepts no other tool-call id)."""
    if len(tool_call_id) == 9 and tool_call_id.isascii() and tool_call_id.isalnum():
        return tool_call_id
    value = int.from_bytes(_digest(tool_call_id)[:8], "big")
    chars = []
    for _ in range(9):
        value, rest = divmod(value, len(_ALNUM))
        chars.append(_ALNUM[rest])
    return "".join(chars)


# JSON-schema keywords Gemini's OpenAI-compatible endpoint rejects in function parameters.
_GEMINI_DROPPED: Final = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "additionalProperties",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "propertyNames",
        "patternProperties",
        "unevaluatedProperties",
        "dependentRequired",
        "dependentSchemas",
        "examples",
        "const",
        "if",
        "then",
        "else",
        "contentEncoding",
        "contentMediaType",
        "prefixItems",
    }
)
_GEMINI_STRING_FORMATS: Final = frozenset({"enum", "date-time"})
_SCHEMA_MAPS: Final = frozenset({"properties", "$defs", "definitions", "patternProperties"})
_SCHEMA_LISTS: Final = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SCHEMA_ONE: Final = frozenset({"items", "additionalProperties", "not", "contains"})


_REF_PREFIXES: Final = ("#/$defs/", "#/definitions/")
# References followed this deep at most: a recursive schema ends in an open object there.
_MAX_REF_DEPTH: Final = 8


def gemini_schema(schema: Any) -> Any:
    """A copy of `schema` that Gemini's Schema object can hold: local `$ref`s inlined (Gemini has no
    references), `oneOf` as `anyOf`, `allOf` merged, and without the keywords Gemini rejects;
    property names are never touched."""
    return _gemini_clean(inline_refs(schema))


def inline_refs(schema: Any) -> Any:
    """A copy of `schema` with each local `$ref` (`#/$defs/X`, `#/definitions/X`) replaced by what
    it names, and the definitions themselves left out."""
    if not isinstance(schema, dict):
        return schema
    defs: dict[str, Any] = {}
    for key in ("definitions", "$defs"):
        if isinstance(schema.get(key), dict):
            defs.update(schema[key])
    return _inline(schema, defs, 0)


def _inline(node: Any, defs: dict[str, Any], depth: int) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs, depth) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIXES):
        target = defs.get(ref.split("/", 2)[2])
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        if not isinstance(target, dict) or depth >= _MAX_REF_DEPTH:
            return {"type": "object", **siblings}
        return _inline({**target, **siblings}, defs, depth + 1)
    inlined: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("$defs", "definitions"):
            continue
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            inlined[key] = {name: _inline(sub, defs, depth) for name, sub in value.items()}
        else:
            inlined[key] = _inline(value, defs, depth)
    return inlined


def _merged_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    """`allOf` folded into the schema: properties and required joined, other keywords kept (the
    schema's own win)."""
    parts = schema.get("allOf")
    if not isinstance(parts, list):
        return schema
    merged: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for part in [p for p in parts if isinstance(p, dict)] + [{k: v for k, v in schema.items() if k != "allOf"}]:
        part = _merged_all_of(part)
        properties.update(part.get("properties") or {})
        required += [name for name in part.get("required") or () if name not in required]
        merged.update({k: v for k, v in part.items() if k not in ("properties", "required")})
    if properties:
        merged["properties"] = properties
    if required:
        merged["required"] = required
    return merged


def _gemini_clean(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    schema = _merged_all_of(schema)
    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "const" and "enum" not in schema:
            cleaned["enum"] = [value]
            continue
        if key in _GEMINI_DROPPED:
            continue
        if key == "type" and isinstance(value, list):
            # Gemini takes one type; ["string", "null"] becomes a nullable string.
            types = [t for t in value if t != "null"]
            cleaned["type"] = types[0] if types else "string"
            if len(types) < len(value):
                cleaned["nullable"] = True
            continue
        if key == "format" and schema.get("type") == "string" and value not in _GEMINI_STRING_FORMATS:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            cleaned[key] = {name: _gemini_clean(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            # Gemini knows anyOf only; for a value of one type, oneOf says the same.
            target = "anyOf" if key == "oneOf" else key
            cleaned[target] = [*cleaned.get(target, ()), *(_gemini_clean(sub) for sub in value)]
        elif key in _SCHEMA_ONE:
            cleaned[key] = _gemini_clean(value)
        else:
            cleaned[key] = value
    return cleaned


def ensure_object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAI wants `parameters` to be an object schema; an empty schema becomes one."""
    if not schema:
        return {"type": "object", "properties": {}}
    if "type" not in schema and "properties" in schema:
        return {"type": "object", **schema}
    return schema
