"""A provider's own limits from the TOML file: its concurrency cap and its timeouts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.fake_upstream import FakeUpstream, Reply, completion
from tests.support.proxy_server import ProxyServer

BODY: dict[str, Any] = {"model": "capped/m", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}


def proxy_with(start_proxy: Callable[..., ProxyServer], tmp_path: Path, url: str, settings: str) -> ProxyServer:
    toml = tmp_path / "proxy.toml"
    toml.write_text(f'[providers.capped]\nbase_url = "{url}"\n{settings}\n')
    return start_proxy(config_file=toml)


def test_requests_over_a_providers_max_concurrency_get_an_overloaded_error(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.script = lambda _: Reply(json=completion("slow"), delay=1.5)
    proxy = proxy_with(start_proxy, tmp_path, upstream.url, "max_concurrency = 1\nconnect_timeout = 0.3")
    first: list[httpx.Response] = []
    worker = threading.Thread(
        target=lambda: first.append(httpx.post(f"{proxy.url}/v1/messages", json=BODY, timeout=10))
    )
    worker.start()
    upstream.wait_for_requests(1)
    started = time.monotonic()
    second = httpx.post(f"{proxy.url}/v1/messages", json=BODY, timeout=10)
    assert time.monotonic() - started < 1.2
    assert second.status_code == 529
    assert second.json()["error"]["type"] == "overloaded_error"
    assert "max_concurrency" in second.json()["error"]["message"]
    worker.join(10)
    assert first[0].status_code == 200


def test_a_providers_request_timeout_is_its_own(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.queue(Reply(json=completion("too late"), delay=2))
    proxy = proxy_with(start_proxy, tmp_path, upstream.url, "request_timeout = 0.3")
    started = time.monotonic()
    answer = httpx.post(f"{proxy.url}/v1/messages", json=BODY, timeout=10)
    assert time.monotonic() - started < 1.5
    assert answer.status_code == 504
    assert "REQUEST_TIMEOUT=0.3s" in answer.json()["error"]["message"]
