"""Input token counts for `/v1/messages/count_tokens`, computed locally (never a chat call, no network).

The request is translated exactly as it would be sent upstream (`to_openai`), and what the upstream
model will read is counted:
- every message: its role and content, assistant tool calls (function name + arguments JSON), the
  tool-call id of tool messages, and reasoning sent back (DeepSeek's `reasoning_content`);
- every tool: function name, description and parameters JSON (compact);
- OpenAI's framing: 3 tokens per message, 3 to prime the reply, 2 per tool call, 8 per tool;
- images at OpenAI's high-detail rate: 85 + 170 per 512-px tile after scaling to fit 2048 px and
  then 768 px on the short side; dimensions read from the PNG, GIF, WebP or JPEG header of base64
  data; 765 tokens (a 1024x1024 image) when they cannot be read (URLs, other formats), 85 for
  `detail: low`;
- PDFs (`file` parts): 1,000 tokens per page (page objects counted in the data, at least one).

Text is counted with the routed upstream model's tokenizer where it is known (its model facts:
o200k_base for gpt-4o/4.1/5, o-series, gpt-oss; cl100k_base for gpt-4/gpt-3.5). Other models
(DeepSeek, Gemini, Qwen, Llama, Claude through OpenRouter...) get an estimate calibrated against
o200k_base on Claude Code traffic (prose, source code, JSON, shell output; see bench/token_count.py):
one token per 3.5 ASCII characters plus one per non-ASCII character, the latter counted as half the
extra UTF-8 bytes (a CJK character is one, an accented letter half), rounded up per piece. On such
requests it lands within 2% of o200k (the target is 15%); other vendors' tokenizers differ from
o200k by about that much anyway.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from collections.abc import Callable
from dataclasses import replace
from typing import Final, assert_never

import orjson

from provider_proxy.config.provider import Provider, Route
from provider_proxy.conversion.request import to_openai
from provider_proxy.models.anthropic import CountTokensRequest, MessagesRequest
from provider_proxy.models.openai_request import ChatMessage, ChatRequest, ContentPart, Function
from provider_proxy.providers.model_facts import DEFAULT_OUTPUT_LIMIT, Encoding
from provider_proxy.providers.profiles import PROFILES
from provider_proxy.services.tokenizers import Tokenizers

Counter = Callable[[str], int]

PER_MESSAGE = 3
REPLY_PRIMING = 3
PER_TOOL_CALL = 2
PER_TOOL = 8
ASCII_CHARS_PER_TOKEN = 3.5
TOKENS_PER_NON_ASCII_CHAR = 1.0

IMAGE_BASE, IMAGE_TILE, IMAGE_LOW = 85, 170, 85
IMAGE_DEFAULT = IMAGE_BASE + 4 * IMAGE_TILE
PDF_PAGE = 1_000
_HEADER_B64_CHARS = 65_536  # base64 decoded to find image dimensions: 48 KB of header at most
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


# Where a request goes when its tokens are estimated before it is routed: a plain OpenAI-compatible
# provider, with the calibrated estimate (no tokenizer).
_UNROUTED: Final = Route(
    "-", Provider("estimate", "http://estimate.invalid", None, PROFILES["generic"]), "estimate", DEFAULT_OUTPUT_LIMIT
)


class TokenCounter:
    """Counts input tokens; owns the tokenizers it loads."""

    def __init__(self, tokenizers: Tokenizers | None = None) -> None:
        self.tokenizers = tokenizers or Tokenizers()

    def estimate_request(self, request: MessagesRequest) -> int:
        """Input tokens of a request not routed yet (for scenario routing): the calibrated estimate."""
        return count_body(to_openai(request, _UNROUTED).body, estimate_tokens)

    def count_request(self, request: CountTokensRequest, route: Route) -> int:
        return self.count_upstream(upstream_body(request, route), route.facts.tokenizer)

    def count_upstream(self, body: ChatRequest, encoding: Encoding | None) -> int:
        """Input tokens of a chat request already translated, with the routed model's encoding."""
        tokenizer = self.tokenizers.get(encoding) if encoding else None
        return count_body(body, tokenizer.count if tokenizer else estimate_tokens)


def upstream_body(request: CountTokensRequest, route: Route) -> ChatRequest:
    """The chat request the upstream would receive for this body."""
    as_messages = MessagesRequest(
        model=request.model,
        messages=request.messages,
        max_tokens=1,
        system=request.system,
        tools=request.tools,
        tool_choice=request.tool_choice,
        thinking=request.thinking,
    )
    if route.facts.tool_calling is False:
        # Counted as if the tools were sent: a request to a model without tool calling is refused
        # when it is sent (or goes to a fallback), and count_tokens should still answer.
        route = replace(route, facts=replace(route.facts, tool_calling=None))
    return to_openai(as_messages, route).body


def estimate_tokens(text: str) -> int:
    """Tokens of `text` for a model whose tokenizer is unknown (rule in the module docstring)."""
    if text.isascii():
        return math.ceil(len(text) / ASCII_CHARS_PER_TOKEN)
    # UTF-8 spends 1-3 extra bytes on a non-ASCII character: 2 for CJK, 1 for accented Latin.
    non_ascii = (len(text.encode("utf-8")) - len(text)) / 2
    return math.ceil((len(text) - non_ascii) / ASCII_CHARS_PER_TOKEN + non_ascii * TOKENS_PER_NON_ASCII_CHAR)


def count_body(body: ChatRequest, count: Counter) -> int:
    total = REPLY_PRIMING
    for tool in body.get("tools", ()):
        total += _tool_tokens(tool["function"], count)
    for message in body["messages"]:
        total += _message_tokens(message, count)
    return total


def _tool_tokens(function: Function, count: Counter) -> int:
    parameters = orjson.dumps(function["parameters"]).decode("utf-8")
    return PER_TOOL + count(function["name"]) + count(function.get("description", "")) + count(parameters)


def _message_tokens(message: ChatMessage, count: Counter) -> int:
    total = PER_MESSAGE + count(message["role"])
    content = message["content"]
    if isinstance(content, str):
        total += count(content)
    elif content is not None:
        total += sum(_part_tokens(part, count) for part in content)
    match message["role"]:
        case "assistant":
            total += count(message.get("reasoning_content", ""))
            for call in message.get("tool_calls", ()):
                function = call["function"]
                total += PER_TOOL_CALL + count(function["name"]) + count(function["arguments"])
        case "tool":
            total += count(message["tool_call_id"])
        case "system" | "user":
            pass
        case unreachable:
            assert_never(unreachable)
    return total


def _part_tokens(part: ContentPart, count: Counter) -> int:
    match part["type"]:
        case "text":
            return count(part["text"])
        case "image_url":
            image = part["image_url"]
            return image_tokens(image["url"], image.get("detail"))
        case "file":
            return pdf_tokens(part["file"]["file_data"])
        case unreachable:
            assert_never(unreachable)


def image_tokens(url: str, detail: str | None = None) -> int:
    """OpenAI's high-detail image cost, from the dimensions in a data: URI when they can be read."""
    if detail == "low":
        return IMAGE_LOW
    size = image_size(_data_prefix(url)) if url.startswith("data:") else None
    if size is None:
        return IMAGE_DEFAULT
    scale = min(1.0, 2048 / max(size))
    width, height = size[0] * scale, size[1] * scale
    scale = min(1.0, 768 / min(width, height))
    tiles = math.ceil(width * scale / 512) * math.ceil(height * scale / 512)
    return IMAGE_BASE + IMAGE_TILE * tiles


def _data_prefix(url: str) -> bytes:
    _, comma, data = url.partition(",")
    chunk = data[:_HEADER_B64_CHARS] if comma else ""
    chunk = chunk[: len(chunk) // 4 * 4]
    try:
        return base64.b64decode(chunk)
    except (binascii.Error, ValueError):
        return b""


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of PNG, GIF, WebP or JPEG bytes; None if unreadable."""
    size: tuple[int, int] | None = None
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        size = struct.unpack(">II", data[16:24])
    elif data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        size = struct.unpack("<HH", data[6:10])
    elif data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        size = _webp_size(data)
    elif data.startswith(b"\xff\xd8"):
        size = _jpeg_size(data)
    return size if size and size[0] > 0 and size[1] > 0 else None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the JPEG segments to the first start-of-frame marker."""
    offset = 2
    while offset + 9 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:
            offset += 1
            continue
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            return width, height
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:
            offset += 2
            continue
        offset += 2 + int.from_bytes(data[offset + 2 : offset + 4], "big")
    return None


def pdf_tokens(file_data: str) -> int:
    _, comma, encoded = file_data.partition(",")
    try:
        raw = base64.b64decode(encoded if comma else file_data)
    except (binascii.Error, ValueError):
        raw = b""
    return PDF_PAGE * max(1, len(_PDF_PAGE.findall(raw)))
