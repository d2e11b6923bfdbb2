"""Content blocks the proxy cannot translate are dropped; when that leaves the last message with
nothing, the client gets a 400 naming what was dropped, and nothing is sent upstream."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.fake_upstream import FakeUpstream, Reply, completion
from tests.support.proxy_server import ProxyServer


def _post(proxy: ProxyServer, messages: list[dict[str, Any]], path: str = "/v1/messages") -> httpx.Response:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": messages}
    return httpx.post(f"{proxy.url}{path}", json=body, timeout=20)


def test_a_message_of_only_unknown_blocks_is_refused_not_sent_as_no_messages(
    proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    blocks = [{"type": "hologram", "data": "x"}, {"type": "smell", "data": "y"}]
    response = _post(proxy, [{"role": "user", "content": blocks}])
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("messages.0.content: no block this proxy can translate")
    assert "dropped block types: hologram, smell" in error["message"]
    assert upstream.requests == []


def test_the_last_turn_of_only_unknown_blocks_is_refused_after_a_history(
    proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    response = _post(proxy, [*history, {"role": "user", "content": [{"type": "hologram"}]}])
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("messages.2.content:")
    assert upstream.requests == []


def test_an_earlier_turn_of_only_unknown_blocks_is_left_out_and_the_request_goes_on(
    proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    upstream.queue(Reply(json=completion("ok")))
    messages = [
        {"role": "user", "content": "search the web"},
        {"role": "assistant", "content": [{"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search"}]},
        {"role": "user", "content": "thanks"},
    ]
    response = _post(proxy, messages)
    assert response.status_code == 200, response.text
    assert len(upstream.requests) == 1
