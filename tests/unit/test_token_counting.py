from __future__ import annotations

import base64
import functools
import importlib.util
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from provider_proxy.config.provider import Route
from provider_proxy.config.proxy_config import build_config
from provider_proxy.config.settings import load_settings
from provider_proxy.models.anthropic import CountTokensRequest
from provider_proxy.providers.model_facts import model_facts
from provider_proxy.services import tokenizers
from provider_proxy.services.routing import Router
from provider_proxy.services.token_counting import (
    IMAGE_DEFAULT,
    PER_MESSAGE,
    REPLY_PRIMING,
    TokenCounter,
    estimate_tokens,
    image_size,
    image_tokens,
)

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_token_count", ROOT / "bench" / "token_count.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _route(upstream_model: str) -> Route:
    settings = load_settings(env_file=None, openai_api_key="sk-test", big_model=upstream_model)
    return Router(build_config(settings)).resolve("claude-opus-4-6")


COUNTER = TokenCounter()


def _count(body: dict[str, Any], upstream_model: str = "gpt-4o", counter: TokenCounter = COUNTER) -> int:
    request = msgspec.convert({"model": "claude-opus-4-6", **body}, CountTokensRequest)
    return counter.count_request(request, _route(upstream_model))


def _o200k() -> tokenizers.Tokenizer:
    tokenizer = COUNTER.tokenizers.get("o200k_base")
    assert tokenizer is not None
    return tokenizer


def _png(width: int, height: int) -> str:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + chunk + b"\x00" * 64).decode()


def _jpeg(width: int, height: int) -> str:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return base64.b64encode(b"\xff\xd8" + app0 + sof + b"\xff\xd9").decode()


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("gpt-5-mini", "o200k_base"),
        ("o3", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("openai/gpt-oss-120b", "o200k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("deepseek-chat", None),
        ("gemini-2.5-pro", None),
        ("anthropic/claude-sonnet-4", None),
        ("qwen3-coder", None),
        ("omni-model", None),
    ],
)
def test_encoding_by_model_family(model: str, encoding: str | None) -> None:
    assert model_facts(model).tokenizer == encoding


def test_plain_text_matches_the_tokenizer_exactly() -> None:
    text = "Count me exactly: naïve café, 日本語, `def f(x): return x ** 2`, and <|endoftext|> as text."
    overhead = REPLY_PRIMING + PER_MESSAGE + _o200k().count("user")
    assert _count({"messages": [{"role": "user", "content": text}]}) == _o200k().count(text) + overhead


def test_system_blocks_and_tool_calls_are_counted() -> None:
    messages = [
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"c": "ls"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.py\nb.py"}]},
    ]
    short = _count({"messages": messages[:1]})
    full = _count({"messages": messages, "system": [{"type": "text", "text": "You are a careful engineer."}]})
    tokens = _o200k().count
    assert full - short >= tokens('{"c":"ls"}') + tokens("a.py\nb.py") + tokens("You are a careful engineer.")


def test_tools_increase_the_count() -> None:
    messages = [{"role": "user", "content": "hi"}]
    tool = {
        "name": "Read",
        "description": "Read a file from the local filesystem.",
        "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}},
    }
    without = _count({"messages": messages})
    with_tool = _count({"messages": messages, "tools": [tool]})
    assert with_tool - without > _o200k().count("Read a file from the local filesystem.")


def test_images_increase_the_count_by_their_size() -> None:
    def with_image(data: str, media_type: str) -> int:
        image = {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
        return _count({"messages": [{"role": "user", "content": [{"type": "text", "text": "see"}, image]}]})

    text_only = _count({"messages": [{"role": "user", "content": "see"}]})
    assert with_image(_png(512, 512), "image/png") - text_only == 85 + 170
    assert with_image(_jpeg(1024, 1024), "image/jpeg") - text_only == 85 + 170 * 4
    assert with_image("bm90IGFuIGltYWdl", "image/png") - text_only == IMAGE_DEFAULT


def test_image_cost_follows_openai_scaling() -> None:
    assert image_size(base64.b64decode(_png(4096, 8192))) == (4096, 8192)
    assert image_tokens("data:image/png;base64," + _png(4096, 8192)) == 85 + 170 * 6  # 768x1536: 2x3 tiles
    assert image_tokens("https://example.com/cat.png") == IMAGE_DEFAULT
    assert image_tokens("https://example.com/cat.png", "low") == 85


def test_unknown_models_use_the_estimate_within_15_percent_of_o200k() -> None:
    bench = _bench()
    for seed in (1, 2):
        raw = bench.build_request(seed=seed)
        exact = _count(raw, "gpt-4o")
        estimated = _count(raw, "deepseek-chat")
        assert estimated != exact
        assert abs(estimated - exact) / exact < 0.15


def test_estimate_handles_non_ascii_text() -> None:
    text = "これは日本語の文章です。トークン数を見積もります。" * 20
    assert abs(estimate_tokens(text) - _o200k().count(text)) / _o200k().count(text) < 0.5


def test_the_tokenizer_is_loaded_from_the_installed_package_without_network(tmp_path: Path) -> None:
    script = (
        "from provider_proxy.services.tokenizers import Tokenizers\n"
        "loaded = Tokenizers(); t = loaded.get('o200k_base'); c = loaded.get('cl100k_base')\n"
        "assert t is not None and c is not None\n"
        "print(t.count('hello world'), c.count('hello world'))\n"
    )
    env = {
        **os.environ,
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "tiktoken"),
        "QUICKTOK_DATA": str(tmp_path / "quicktok"),
        "HOME": str(tmp_path),
    }
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", "2"]
    assert list(tmp_path.iterdir()) == []  # nothing downloaded or cached


def test_a_missing_tokenizer_falls_back_to_the_estimate_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "quicktok", None)  # import fails
    body = {"messages": [{"role": "user", "content": "x" * 350}]}
    counter = TokenCounter()
    first, second = _count(body, counter=counter), _count(body, counter=counter)
    assert first == second == REPLY_PRIMING + PER_MESSAGE + estimate_tokens("user") + 100
    warnings = [r for r in caplog.records if "cannot load the o200k_base tokenizer" in r.getMessage()]
    assert len(warnings) == 1


def test_bench_quick_mode_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert _bench().main(["--quick"]) == 0
    output = capsys.readouterr().out
    assert "claude-code-60k" in output and "deepseek-chat" in output
