"""The provider's key never reaches a client through anything derived from an upstream answer: error
objects inside 200 answers and streams, a redirect's Location, relayed headers such as retry-after."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import UPSTREAM_KEY
from tests.support.fake_upstream import FakeUpstream, Reply, sse
from tests.support.proxy_server import ProxyServer

REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "hi"}],
}
# What a careless or hostile provider might echo: the key alone, and in a URL's query.
LEAKS = [UPSTREAM_KEY, f"https://provider.example/v1?key={UPSTREAM_KEY}"]


def post(proxy: ProxyServer, *, stream: bool = False) -> httpx.Response:
    return httpx.post(f"{proxy.url}/v1/messages", json={**REQUEST, "stream": stream}, timeout=20)


def assert_no_key(response: httpx.Response) -> None:
    exposed = response.text + "".join(f"{name}: {value}\n" for name, value in response.headers.items())
    assert UPSTREAM_KEY not in exposed, exposed
    assert UPSTREAM_KEY[8:] not in exposed, exposed


def error_object(leak: str) -> dict[str, Any]:
    return {"message": f"bad key {leak}", "type": f"invalid_{leak}", "code": f"code_{leak}"}


@pytest.mark.parametrize("leak", LEAKS)
def test_an_error_object_in_a_200_answer_is_redacted(proxy: ProxyServer, upstream: FakeUpstream, leak: str) -> None:
    upstream.queue(Reply(json={"error": error_object(leak)}))
    response = post(proxy)
    assert response.status_code >= 400
    assert_no_key(response)


@pytest.mark.parametrize("leak", LEAKS)
def test_an_error_object_with_only_a_type_in_a_200_answer_is_redacted(
    proxy: ProxyServer, upstream: FakeUpstream, leak: str
) -> None:
    upstream.queue(Reply(json={"error": {"type": leak, "code": leak}}))
    response = post(proxy)
    assert response.status_code >= 400
    assert_no_key(response)


@pytest.mark.parametrize("leak", LEAKS)
@pytest.mark.parametrize("first", [True, False], ids=["at-start", "mid-stream"])
def test_an_error_chunk_in_a_stream_is_redacted(
    proxy: ProxyServer, upstream: FakeUpstream, leak: str, first: bool
) -> None:
    text = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}
    pieces = [{"error": error_object(leak)}] if first else [text, 0.3, {"error": error_object(leak)}]
    upstream.queue(Reply(stream=sse(*pieces, done=False)))
    response = post(proxy, stream=True)
    assert "error" in response.text
    assert_no_key(response)


@pytest.mark.parametrize("leak", LEAKS)
def test_an_error_chunk_with_only_a_type_in_a_stream_is_redacted(
    proxy: ProxyServer, upstream: FakeUpstream, leak: str
) -> None:
    text = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}
    upstream.queue(Reply(stream=sse(text, 0.3, {"error": {"type": leak, "code": leak}}, done=False)))
    response = post(proxy, stream=True)
    assert "error" in response.text
    assert_no_key(response)


@pytest.mark.parametrize("leak", LEAKS)
def test_a_redirect_location_is_redacted(proxy: ProxyServer, upstream: FakeUpstream, leak: str) -> None:
    upstream.queue(Reply(status=302, body=b"", headers={"Location": leak}))
    response = post(proxy)
    assert response.status_code == 400
    assert "redirects" in response.json()["error"]["message"]
    assert_no_key(response)


@pytest.mark.parametrize("leak", LEAKS)
@pytest.mark.parametrize("stream", [False, True])
def test_a_relayed_retry_after_is_redacted(proxy: ProxyServer, upstream: FakeUpstream, leak: str, stream: bool) -> None:
    upstream.queue(Reply(status=429, json={"error": {"message": "slow down"}}, headers={"Retry-After": leak}))
    response = post(proxy, stream=stream)
    assert response.status_code == 429
    assert_no_key(response)


def test_a_numeric_retry_after_is_still_relayed(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    upstream.queue(Reply(status=429, json={"error": {"message": "slow down"}}, headers={"Retry-After": "30"}))
    response = post(proxy)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
