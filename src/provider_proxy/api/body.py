"""Request bodies -> typed requests: read within a size limit, decompressed, decoded, with Anthropic-style
errors that name the field.

Decoding is lenient where clients evolve: unknown fields are ignored, and content blocks of types the
proxy cannot translate are dropped (and reported) instead of failing the whole request. JSON nested
deeper than the proxy can take is the client's error (`errors.too_deeply_nested`), here and wherever
the request is translated (`client_json`).
"""

from __future__ import annotations

import re
import zlib
from types import TracebackType
from typing import Any, Final, TypeVar

import brotli
import msgspec
import orjson
from starlette.requests import Request

from provider_proxy.api.context import header
from provider_proxy.errors import ProxyError, client_json_error, invalid_request, too_deeply_nested
from provider_proxy.models.anthropic import (
    KNOWN_BLOCK_TYPES,
    KNOWN_TOOL_RESULT_PART_TYPES,
    CountTokensRequest,
    MessagesRequest,
)

T = TypeVar("T", MessagesRequest, CountTokensRequest)
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {
    MessagesRequest: msgspec.json.Decoder(MessagesRequest),
    CountTokensRequest: msgspec.json.Decoder(CountTokensRequest),
}
_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"Object missing required field `([^`]+)`")
# How much of msgspec's message a 400 repeats.
_MESSAGE_SHOWN: Final = 200


def describe_validation_error(error: msgspec.ValidationError) -> str:
    """msgspec's "Expected `str`, got `int` - at `$.messages[0].role`" -> "messages.0.role: ..."."""
    found = _PATH.match(str(error))
    message, path = (found.group("msg"), found.group("path") or "") if found else (str(error), "")
    parts = [p for p in re.split(r"[.\[\]]+", path) if p]
    missing = _MISSING.match(message)
    if missing:
        parts.append(missing.group(1))
        message = "Field required"
    if len(message) > _MESSAGE_SHOWN:  # msgspec repeats a wrong enum value, whatever its size
        message = f"{message[:_MESSAGE_SHOWN]}..."
    return f"{'.'.join(parts)}: {message}" if parts else message


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, decompressed, refused past `limit` bytes before or after decompression."""
    declared = header(request, b"content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ProxyError("request_too_large", f"Request body exceeds the limit of {limit} bytes")
    chunks = []
    size = 0
    receive = request.receive
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ProxyError("invalid_request_error", "The client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            raise ProxyError("request_too_large", f"Request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return decompress(body, header(request, b"content-encoding"), limit)


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo a Content-Encoding, refusing to inflate past `limit` bytes."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    too_large = ProxyError("request_too_large", f"Decompressed request body exceeds {limit} bytes")
    try:
        if encoding in ("gzip", "x-gzip", "deflate"):
            wbits = zlib.MAX_WBITS | 32 if encoding != "deflate" else zlib.MAX_WBITS
            inflater = zlib.decompressobj(wbits)
            out = inflater.decompress(body, limit + 1)
            if len(out) > limit or inflater.unconsumed_tail:
                raise too_large
            return out
        if encoding == "br":
            decompressor = brotli.Decompressor()
            out = decompressor.process(body, output_buffer_limit=limit + 1)
            if len(out) > limit or not decompressor.is_finished():
                raise too_large
            return bytes(out)
    except (zlib.error, brotli.error) as exc:
        raise invalid_request(f"Request body could not be decompressed ({encoding}): {exc}") from None
    raise ProxyError("invalid_request_error", f"Unsupported Content-Encoding {encoding!r}; use gzip, deflate or br")


def _drop_unknown_blocks(data: Any) -> list[str]:
    """Remove content blocks the proxy cannot translate; return what was removed."""
    dropped: list[str] = []
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list):
        return dropped
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        kept = []
        for block in content:
            kind = block.get("type") if isinstance(block, dict) else None
            if isinstance(kind, str) and kind not in KNOWN_BLOCK_TYPES:
                dropped.append(kind)
                continue
            if kind == "tool_result" and isinstance(block.get("content"), list):
                block["content"] = _known_parts(block["content"], dropped)
            kept.append(block)
        message["content"] = kept
    return dropped


def _known_parts(parts: list[Any], dropped: list[str]) -> list[Any]:
    """A tool result's parts without the objects of a type the proxy cannot translate, a missing type
    or one that is not a string included (added to `dropped`). Anything else is kept, for the typed
    decoding to name."""
    kept = []
    for part in parts:
        if not isinstance(part, dict):
            kept.append(part)
            continue
        kind = part.get("type")
        if isinstance(kind, str) and kind in KNOWN_TOOL_RESULT_PART_TYPES:
            kept.append(part)
        else:
            dropped.append(kind if isinstance(kind, str) else str(kind))
    return kept


# How much of the client's block type names an error message or a log line repeats.
_TYPE_SHOWN: Final = 40
_TYPES_SHOWN: Final = 10


def describe_dropped(dropped: list[str]) -> str:
    """The dropped block types for an error message or a log line: each once, at most ten, long names
    cut, names that are not plain words quoted (an empty one included)."""
    kinds = sorted(set(dropped))
    shown = [kind if kind.isidentifier() else repr(kind) for kind in kinds[:_TYPES_SHOWN]]
    shown = [kind if len(kind) <= _TYPE_SHOWN else f"{kind[:_TYPE_SHOWN]}..." for kind in shown]
    more = f" and {len(kinds) - _TYPES_SHOWN} more" if len(kinds) > _TYPES_SHOWN else ""
    return ", ".join(shown) + more


def _refuse_emptied_last_message(data: Any, dropped: list[str]) -> None:
    """A last message left with no blocks would reach the upstream as nothing (a one-message request
    as `"messages": []`): answer 400 naming what was dropped. Earlier turns may lose all their blocks
    (server-tool turns do) and are left out."""
    messages = data.get("messages") if isinstance(data, dict) else None
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict) and messages[-1].get("content") == []:
        raise invalid_request(
            f"messages.{len(messages) - 1}.content: no block this proxy can translate; dropped block types: "
            f"{describe_dropped(dropped)} (it translates {', '.join(sorted(KNOWN_BLOCK_TYPES))})"
        )


def decode_request(raw: bytes, kind: type[T]) -> tuple[T, list[str]]:
    """The typed request and the types of any content blocks that were dropped."""
    if not raw.strip():
        raise invalid_request("Request body is empty; send a JSON object")
    try:
        return _decoders[kind].decode(raw), []
    except msgspec.ValidationError as first_error:
        error = first_error
    except msgspec.DecodeError as exc:
        raise invalid_request(f"Request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise too_deeply_nested() from None
    try:
        return _decode_leniently(raw, kind, error)
    except RecursionError:
        raise too_deeply_nested() from None
    except orjson.JSONDecodeError as exc:
        # msgspec stopped at the first value of the wrong type: the JSON after it was never checked.
        if str(exc).startswith("depth limit exceeded"):
            raise too_deeply_nested() from None
        raise invalid_request(f"Request body is not valid JSON: {exc}") from None


class _ClientJson:
    """`with client_json:` around work on the client's request (translating it, counting its tokens):
    a failure that nesting beyond the limit or an integer beyond 64 bits causes becomes the client's
    400, anything else passes."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        error = client_json_error(exc) if exc is not None else None
        if error is not None:
            raise error from None


client_json: Final = _ClientJson()


def _decode_leniently(raw: bytes, kind: type[T], error: msgspec.ValidationError) -> tuple[T, list[str]]:
    """The request without the content blocks the typed decoding refused; their types."""
    data = orjson.loads(raw)
    dropped = _drop_unknown_blocks(data)
    if not dropped:
        raise invalid_request(describe_validation_error(error))
    _refuse_emptied_last_message(data, dropped)
    try:
        return msgspec.convert(data, kind), dropped
    except msgspec.ValidationError as exc:
        raise invalid_request(describe_validation_error(exc)) from None


def check_messages_request(request: MessagesRequest | CountTokensRequest) -> None:
    """What the types cannot say; Anthropic rejects the same requests."""
    if not request.model:
        raise invalid_request("model: must not be empty")
    if not request.messages:
        raise invalid_request("messages: at least one message is required")
    if isinstance(request, MessagesRequest) and request.max_tokens < 1:
        raise invalid_request("max_tokens: must be at least 1")
