"""Every failure answers in Anthropic's error shape, with the matching status."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import pytest

from tests.conftest import UPSTREAM_KEY
from tests.support.fake_upstream import FakeUpstream, Reply, completion
from tests.support.proxy_server import ProxyServer
from tests.support.sdk import sdk_client

VALID = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def post(proxy: ProxyServer, body: Any = None, *, content: bytes | None = None, **headers: str) -> httpx.Response:
    if content is None:
        return httpx.post(f"{proxy.url}/v1/messages", json=body, headers=headers, timeout=20)
    return httpx.post(f"{proxy.url}/v1/messages", content=content, headers=headers, timeout=20)


def assert_error(response: httpx.Response, status: int, error_type: str, fragment: str = "") -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert fragment in body["error"]["message"]
    assert response.headers["request-id"].startswith("req_")
    return str(body["error"]["message"])


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"max_tokens": 10, "messages": []}, "model: Field required"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens: Field required"),
        ({**VALID, "max_tokens": "ten"}, "max_tokens: Expected `int`"),
        ({**VALID, "messages": "hello"}, "messages: Expected `array`"),
        ({**VALID, "messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ({**VALID, "messages": [{"role": "user"}]}, "messages.0.content: Field required"),
        (
            {**VALID, "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]},
            "messages.0.content.0",
        ),
        ({**VALID, "messages": []}, "messages: at least one message is required"),
        ({**VALID, "max_tokens": 0}, "max_tokens: must be at least 1"),
        ({**VALID, "tools": [{"description": "no name"}]}, "tools.0.name: Field required"),
        ([1, 2, 3], "Expected `object`"),
    ],
)
def test_bad_request_bodies_name_the_field(proxy: ProxyServer, body: Any, fragment: str) -> None:
    assert_error(post(proxy, body), 400, "invalid_request_error", fragment)


def test_malformed_json_is_an_invalid_request(proxy: ProxyServer) -> None:
    assert_error(post(proxy, content=b'{"model": '), 400, "invalid_request_error", "not valid JSON")
    assert_error(post(proxy, content=b""), 400, "invalid_request_error", "empty")


def test_unknown_content_block_types_are_dropped_not_rejected(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    body = {
        **VALID,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "future_block", "data": 1}]},
            {
                "role": "assistant",
                "content": [{"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}],
            },
            {"role": "user", "content": "more"},
        ],
    }
    response = post(proxy, body)
    assert response.status_code == 200, response.text
    assert upstream.last.json["messages"][0] == {"role": "user", "content": "hi"}


def test_oversized_body_is_request_too_large(start_proxy: Callable[..., ProxyServer]) -> None:
    proxy = start_proxy(max_request_bytes=4096)
    big = {**VALID, "messages": [{"role": "user", "content": "x" * 10_000}]}
    assert_error(post(proxy, big), 413, "request_too_large")


def test_unknown_path_and_wrong_method_answer_in_anthropic_shape(proxy: ProxyServer) -> None:
    assert_error(httpx.get(f"{proxy.url}/v1/nothing-here"), 404, "not_found_error", "POST /v1/messages")
    assert_error(httpx.get(f"{proxy.url}/v1/messages"), 405, "invalid_request_error")


def test_proxy_api_key_is_enforced_when_configured(start_proxy: Callable[..., ProxyServer]) -> None:
    proxy = start_proxy(proxy_api_key="client-secret-1234")
    assert_error(post(proxy, VALID), 401, "authentication_error", "PROXY_API_KEY")
    assert_error(post(proxy, VALID, **{"x-api-key": "wrong"}), 401, "authentication_error")
    assert post(proxy, VALID, **{"x-api-key": "client-secret-1234"}).status_code == 200
    assert post(proxy, VALID, authorization="Bearer client-secret-1234").status_code == 200
    assert httpx.get(f"{proxy.url}/health").status_code == 200


@pytest.mark.parametrize(
    ("status", "error_type", "our_status"),
    [
        (400, "invalid_request_error", 400),
        (401, "authentication_error", 401),
        (402, "billing_error", 402),
        (403, "permission_error", 403),
        (404, "not_found_error", 404),
        (413, "request_too_large", 413),
        (422, "invalid_request_error", 400),
        (429, "rate_limit_error", 429),
        (500, "api_error", 500),
        (502, "api_error", 502),
        (503, "overloaded_error", 529),
        (504, "timeout_error", 504),
        (529, "overloaded_error", 529),
    ],
)
def test_upstream_error_statuses_map_to_anthropic_errors(
    proxy: ProxyServer, upstream: FakeUpstream, status: int, error_type: str, our_status: int
) -> None:
    detail = {"error": {"message": f"upstream says {status}", "type": "x"}}
    upstream.queue(Reply(status=status, json=detail))
    message = assert_error(post(proxy, VALID), our_status, error_type, f"upstream says {status}")
    assert f"HTTP {status}" in message


def test_a_redirecting_provider_is_reported_with_where_it_points(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    moved = "https://api.example.com/v2/chat/completions"
    upstream.queue(Reply(status=308, body=b"", headers={"Location": moved}))
    message = assert_error(post(proxy, VALID), 400, "invalid_request_error", "HTTP 308")
    assert f"redirects to {moved}" in message
    assert len(upstream.requests) == 1  # not followed


def test_rate_limit_keeps_retry_after(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    upstream.queue(Reply(status=429, json={"error": {"message": "slow down"}}, headers={"retry-after": "30"}))
    response = post(proxy, VALID)
    assert_error(response, 429, "rate_limit_error", "slow down")
    assert response.headers["retry-after"] == "30"


def test_sdk_raises_its_own_exception_classes(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    sdk = sdk_client(proxy.url)
    upstream.queue(Reply(status=429, json={"error": {"message": "busy"}}))
    with pytest.raises(anthropic.RateLimitError):
        sdk.messages.create(**VALID)  # type: ignore[call-overload]
    upstream.queue(Reply(status=401, json={"error": {"message": "bad key"}}))
    with pytest.raises(anthropic.AuthenticationError):
        sdk.messages.create(**VALID)  # type: ignore[call-overload]
    upstream.queue(Reply(status=503, json={"error": {"message": "overloaded"}}))
    with pytest.raises(anthropic.InternalServerError) as caught:
        sdk.messages.create(**VALID)  # type: ignore[call-overload]
    assert caught.value.status_code == 529


def test_upstream_timeout_is_a_timeout_error(start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream) -> None:
    proxy = start_proxy(request_timeout=0.3)
    upstream.queue(Reply(json=completion(), delay=1.5))
    assert_error(post(proxy, VALID), 504, "timeout_error", "REQUEST_TIMEOUT")


def test_connection_refused_is_an_api_error(start_proxy: Callable[..., ProxyServer]) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proxy = start_proxy(openai_base_url=f"http://127.0.0.1:{port}/v1")
    assert_error(post(proxy, VALID), 502, "api_error", "Could not connect")


def test_non_json_success_body_is_an_api_error(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    upstream.queue(Reply(body=b"<html>gateway page</html>"))
    assert_error(post(proxy, VALID), 502, "api_error", "not a chat completion")


def test_non_json_error_body_is_passed_on_as_text(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    upstream.queue(Reply(status=502, body=b"Bad Gateway from nginx"))
    assert_error(post(proxy, VALID), 502, "api_error", "Bad Gateway from nginx")


def test_retries_before_the_first_byte_recover(start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream) -> None:
    proxy = start_proxy(max_retries=2)
    upstream.queue(
        Reply(status=503, json={"error": {"message": "warming up"}}),
        Reply(status=429, json={"error": {"message": "busy"}}, headers={"retry-after": "0"}),
        Reply(json=completion("finally")),
    )
    response = post(proxy, VALID)
    assert response.status_code == 200
    assert response.json()["content"][0]["text"] == "finally"
    assert len(upstream.requests) == 3


def test_upstream_key_never_reaches_the_client_or_the_log(
    proxy: ProxyServer, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"message": f"Incorrect API key provided: Bearer {UPSTREAM_KEY}"}}
    upstream.queue(Reply(status=401, json=echo))
    response = post(proxy, VALID)
    assert response.status_code == 401
    assert UPSTREAM_KEY not in response.text
    assert UPSTREAM_KEY not in caplog.text


def test_sdk_retries_a_rate_limit_by_itself_and_succeeds(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    upstream.queue(Reply(status=429, json={"error": {"message": "busy"}}, headers={"retry-after": "0"}))
    upstream.queue(Reply(json=completion("after the retry")))
    sdk = sdk_client(proxy.url, max_retries=1)
    message = sdk.messages.create(**VALID)  # type: ignore[call-overload]
    assert message.content[0].text == "after the retry"
    assert len(upstream.requests) == 2
