"""Over the window, over real HTTP: refused before the provider is called, or the provider's refusal
rewritten, in Anthropic's words either way (streaming and not)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.proxy_server import ProxyServer

WINDOW = """
[models."big-model"]
context_window = 32768
"""


def ask(proxy: ProxyServer, text: str, stream: bool = False) -> httpx.Response:
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 4096,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }
    return httpx.post(f"{proxy.url}/v1/messages", json=body, headers={"x-api-key": "k"}, timeout=20)


@pytest.fixture
def windowed(start_proxy: Callable[..., ProxyServer], tmp_path: Path) -> ProxyServer:
    (tmp_path / "proxy.toml").write_text(WINDOW)
    return start_proxy(config_file=tmp_path / "proxy.toml")


@pytest.mark.parametrize("stream", [False, True])
def test_a_prompt_over_the_routed_window_is_refused_before_the_provider_sees_it(
    windowed: ProxyServer, upstream: FakeUpstream, stream: bool
) -> None:
    response = ask(windowed, "lorem ipsum dolor " * 12_000, stream)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("prompt is too long: ") and error["message"].endswith(" tokens > 32768 maximum")
    assert upstream.requests == []


def test_a_prompt_that_fits_goes_through(windowed: ProxyServer, upstream: FakeUpstream) -> None:
    assert ask(windowed, "hello").status_code == 200
    assert upstream.requests[0].json["max_tokens"] == 4096


def test_the_providers_context_error_is_rewritten_with_its_numbers(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    message = (
        "This model's maximum context length is 32768 tokens. However, you requested 36000 tokens "
        "(32000 in the messages, 4000 in the completion). Please reduce the length of the messages or completion."
    )
    upstream.script = lambda request: Reply(status=400, json={"object": "error", "message": message, "code": 400})
    response = ask(proxy, "hello")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": "prompt is too long: 32000 tokens > 28768 maximum",
    }
