"""Small pure pieces: tool names, ids, schemas, signatures, decompression, redaction, decoding."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest

from provider_proxy.api.body import decode_request, decompress
from provider_proxy.conversion.signatures import (
    id_with_thought_signature,
    read_thinking_signature,
    split_thought_signature,
    thinking_signature,
)
from provider_proxy.conversion.tools import ToolNames, alnum9_id, upstream_tool_name
from provider_proxy.errors import ProxyError
from provider_proxy.models.anthropic import MessagesRequest
from provider_proxy.utils.logging import redact


def test_valid_tool_names_are_kept_and_long_ones_shortened_stably() -> None:
    assert upstream_tool_name("mcp__github__create_issue") == "mcp__github__create_issue"
    long = "mcp__" + "very_long_server_name_" * 5 + "tool"
    short = upstream_tool_name(long)
    assert len(short) <= 64 and short == upstream_tool_name(long)
    assert short != upstream_tool_name(long + "2")
    names = ToolNames([long, "Read"])
    assert names.original(short) == long
    assert names.original("Read") == "Read"
    assert names.original("unknown") == "unknown"


def test_names_with_invalid_characters_are_sanitised() -> None:
    short = upstream_tool_name("server.tool:run")
    assert short.startswith("server_tool_run_")
    assert all(c.isalnum() or c in "_-" for c in short)


def test_mistral_ids_are_nine_alphanumerics_and_stable() -> None:
    converted = alnum9_id("toolu_01ABCDEF")
    assert len(converted) == 9 and converted.isalnum() and converted == alnum9_id("toolu_01ABCDEF")
    assert alnum9_id("abcDEF123") == "abcDEF123"


def test_thinking_signatures_round_trip_and_foreign_ones_are_ignored() -> None:
    details = [{"type": "reasoning.encrypted", "data": "x"}]
    assert read_thinking_signature(thinking_signature(details)) == {"rd": details}
    assert read_thinking_signature(thinking_signature()) == {}
    assert read_thinking_signature("EqQBCkgIARABGAIiQL") is None
    assert read_thinking_signature("ppx1.!!!not-base64") is None
    assert read_thinking_signature(None) is None


def test_thought_signatures_ride_in_tool_ids() -> None:
    tool_id = id_with_thought_signature("call_1", "Cr/+sig==")
    assert all(c.isalnum() or c in "_-" for c in tool_id)
    assert split_thought_signature(tool_id) == ("call_1", "Cr/+sig==")
    assert split_thought_signature("toolu_plain") == ("toolu_plain", None)
    assert id_with_thought_signature("call_1", None) == "call_1"


@pytest.mark.parametrize(
    ("encoding", "packed"),
    [
        ("gzip", gzip.compress(b'{"a": 1}')),
        ("br", brotli.compress(b'{"a": 1}')),
        ("deflate", zlib.compress(b'{"a": 1}')),
    ],
)
def test_compressed_bodies_are_inflated(encoding: str, packed: bytes) -> None:
    assert decompress(packed, encoding, 1000) == b'{"a": 1}'


def test_decompression_bombs_are_refused() -> None:
    bomb = gzip.compress(b"0" * 2_000_000)
    with pytest.raises(ProxyError) as caught:
        decompress(bomb, "gzip", 100_000)
    assert caught.value.error_type == "request_too_large"
    with pytest.raises(ProxyError, match="Unsupported Content-Encoding"):
        decompress(b"x", "compress", 100)
    with pytest.raises(ProxyError, match="could not be decompressed"):
        decompress(b"not gzip", "gzip", 100)


def test_secrets_are_redacted_by_value_and_by_shape() -> None:
    text = "key sk-proj-abcdefghijklmnop and Bearer abc.def-ghi_jkl and my-own-secret and api-key: zzzzzz"
    cleaned = redact(text, ["my-own-secret"])
    for secret in ("abcdefghijklmnop", "abc.def-ghi_jkl", "my-own-secret", "zzzzzz"):
        assert secret not in cleaned


def test_unknown_fields_are_ignored_when_decoding() -> None:
    raw = (
        b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x","extra":1}],'
        b'"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]},'
        b'"thinking":{"type":"adaptive","display":"omitted"},"output_config":{"effort":"medium"},"new_field":[]}'
    )
    request, dropped = decode_request(raw, MessagesRequest)
    assert request.thinking is not None and request.thinking.type == "adaptive"
    assert dropped == []
