"""Named client keys and their limits, over real HTTP: accepted as x-api-key or Bearer, recorded by
name, refused when unknown or revoked (without a restart), held to their models, rates and budgets;
and the proxy's own capacity caps (MAX_CONCURRENT_REQUESTS with its short line, MAX_OPEN_STREAMS)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from provider_proxy.cli.keys import create_key, revoke_key
from tests.support.fake_upstream import FakeUpstream, Reply, completion, sse
from tests.support.proxy_server import ProxyServer

BODY: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
NONE: frozenset[str] = frozenset()


def post(proxy: ProxyServer, key: str | None, body: dict[str, Any] = BODY, **headers: str) -> httpx.Response:
    sent = {"x-api-key": key} if key else {}
    return httpx.post(f"{proxy.url}/v1/messages", json=body, headers={**sent, **headers}, timeout=10)


def dollar_a_token_config(tmp_path: Path) -> Path:
    """A config file pricing the default upstream model at one dollar per input token."""
    config = tmp_path / "proxy.toml"
    config.write_text('[prices."big-model"]\ninput_per_mtok = 1000000.0\noutput_per_mtok = 0.0\n')
    return config


def assert_error(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type
    message: str = body["error"]["message"]
    return message


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    return tmp_path / "keys.json"


def test_named_keys_work_as_x_api_key_or_bearer_and_usage_is_recorded_by_name(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, keys_file: Path, tmp_path: Path
) -> None:
    alice, bob = (create_key(keys_file, name, NONE) for name in ("alice", "bob"))
    upstream.script = lambda _: Reply(json=completion("ok"))
    proxy = start_proxy(keys_file=keys_file, data_dir=tmp_path / "data")
    assert post(proxy, alice).status_code == 200
    assert post(proxy, None, authorization=f"Bearer {bob}").status_code == 200
    message = assert_error(post(proxy, "ppk_not-a-key"), 401, "authentication_error")
    assert "provider-proxy keys create" in message
    assert_error(post(proxy, None), 401, "authentication_error")
    proxy.stop()
    rows = sqlite3.connect(tmp_path / "data" / "usage.db").execute("SELECT key_name, status FROM usage_records")
    assert sorted(rows, key=str) == sorted([("alice", 200), ("bob", 200), (None, 401), (None, 401)], key=str)
    assert alice not in (tmp_path / "data" / "usage.db").read_bytes().decode("latin-1")


def test_a_revoked_key_is_refused_within_seconds_without_a_restart(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, keys_file: Path
) -> None:
    alice = create_key(keys_file, "alice", NONE)
    upstream.script = lambda _: Reply(json=completion("ok"))
    proxy = start_proxy(keys_file=keys_file)
    assert post(proxy, alice).status_code == 200
    revoke_key(keys_file, "alice", NONE)
    deadline = time.monotonic() + 5
    while post(proxy, alice).status_code == 200:
        assert time.monotonic() < deadline, "the revoked key still worked after 5 s"
        time.sleep(0.1)
    assert_error(post(proxy, alice), 401, "authentication_error")
    carol = create_key(keys_file, "carol", NONE)  # a new key works as soon as the file is read again
    deadline = time.monotonic() + 5
    while post(proxy, carol).status_code != 200:
        assert time.monotonic() < deadline, "the new key was not accepted after 5 s"
        time.sleep(0.1)


def test_a_broken_keys_file_keeps_the_keys_read_before(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, keys_file: Path
) -> None:
    alice = create_key(keys_file, "alice", NONE)
    upstream.script = lambda _: Reply(json=completion("ok"))
    proxy = start_proxy(keys_file=keys_file)
    keys_file.write_text("{ half written")
    time.sleep(1.5)
    assert post(proxy, alice).status_code == 200
    assert_error(post(proxy, "ppk_guess"), 401, "authentication_error")


def test_a_key_may_use_only_its_models(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, keys_file: Path
) -> None:
    alice = create_key(keys_file, "alice", NONE, models=("claude-*haiku*",))
    upstream.script = lambda _: Reply(json=completion("ok"))
    proxy = start_proxy(keys_file=keys_file)
    assert post(proxy, alice, {**BODY, "model": "claude-haiku-4-5"}).status_code == 200
    message = assert_error(post(proxy, alice), 403, "permission_error")
    assert "'claude-sonnet-4-6'" in message and "claude-*haiku*" in message
    assert len(upstream.requests) == 1


def test_requests_over_a_keys_rate_get_a_429_with_retry_after_and_rate_limit_headers(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, keys_file: Path
) -> None:
    alice = create_key(keys_file, "alice", NONE, rpm=2)
    bob = create_key(keys_file, "bob", NONE)
    upstream.script = lambda _: Reply(json=completion("ok"))
    proxy = start_proxy(keys_file=keys_file)
    assert post(proxy, alice).status_code == 200
    assert post(proxy, alice).status_code == 200
    refused = post(proxy, alice)
    message = assert_error(refused, 429, "rate_limit_error")
    assert "'alice' is limited to 2 requests per minute" in message
    assert 25 <= int(refused.headers["retry-after"]) <= 30
    assert refused.headers["anthropic-ratelimit-requests-limit"] == "2"
    assert refused.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert refused.headers["request-id"].startswith("req_")
    assert post(proxy, bob).status_code == 200  # other keys are not affected
    assert len(upstream.requests) == 3
    metrics = httpx.get(f"{proxy.url}/metrics", timeout=5)
    assert metrics.status_code == 401  # alice and bob are not admin keys


def test_tokens_per_minute_count_what_answers_used(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, keys_file: Path
) -> None:
    alice = create_key(keys_file, "alice", NONE, tpm=100)
    upstream.script = lambda _: Reply(json=completion("ok", usage={"prompt_tokens": 150, "completion_tokens": 10}))
    proxy = start_proxy(keys_file=keys_file)
    assert post(proxy, alice).status_code == 200
    time.sleep(0.2)  # counted when the response has been sent
    message = assert_error(post(proxy, alice), 429, "rate_limit_error")
    assert "100 tokens per minute" in message


def test_a_spent_budget_is_refused_with_the_budget_named_and_survives_a_restart(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, keys_file: Path, tmp_path: Path
) -> None:
    config = dollar_a_token_config(tmp_path)
    alice = create_key(keys_file, "alice", NONE, daily_budget=2.0)
    upstream.script = lambda _: Reply(json=completion("ok", usage={"prompt_tokens": 3, "completion_tokens": 1}))
    settings = {"keys_file": keys_file, "config_file": config, "data_dir": tmp_path / "data"}
    proxy = start_proxy(**settings)
    assert post(proxy, alice).status_code == 200  # $3 spent: over the $2 budget from now on
    time.sleep(0.2)
    message = assert_error(post(proxy, alice), 400, "invalid_request_error")
    assert "'alice' has reached its daily budget of $2.00 ($3.00 spent today (UTC))" in message
    assert "regain access on" in message
    proxy.stop()
    restarted = start_proxy(**settings)  # the spend is read back from the usage store
    assert_error(post(restarted, alice), 400, "invalid_request_error")
    assert len(upstream.requests) == 1


def test_admin_keys_and_proxy_api_key_may_see_the_dashboard_and_metrics(
    start_proxy: Callable[..., ProxyServer], keys_file: Path
) -> None:
    admin = create_key(keys_file, "ops", NONE, admin=True)
    user = create_key(keys_file, "user", NONE)
    proxy = start_proxy(keys_file=keys_file, proxy_api_key="operator-key-0123")
    for key, status in ((admin, 200), ("operator-key-0123", 200), (user, 401)):
        assert httpx.get(f"{proxy.url}/metrics", headers={"x-api-key": key}, timeout=5).status_code == status


def test_a_full_proxy_answers_529_at_once_and_a_short_line_waits_its_turn(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream
) -> None:
    upstream.script = lambda _: Reply(json=completion("slow"), delay=0.6)
    proxy = start_proxy(max_concurrent_requests=1, max_queued_requests=1, queue_timeout=5.0)
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(post(proxy, None).status_code)) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.1)
    started = time.monotonic()
    refused = post(proxy, None)  # one served, one waiting: the line is full
    assert time.monotonic() - started < 0.3
    message = assert_error(refused, 529, "overloaded_error")
    assert "MAX_CONCURRENT_REQUESTS" in message
    for thread in threads:
        thread.join(10)
    assert results == [200, 200]  # the waiting request got the slot when it came free
    metrics = httpx.get(f"{proxy.url}/metrics", timeout=5).text
    assert 'proxy_overloaded_total{reason="queue_full"} 1.0' in metrics
    assert "proxy_requests_in_flight 0.0" in metrics


def test_streams_over_max_open_streams_are_refused_with_529(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream
) -> None:
    chunk = {"choices": [{"index": 0, "delta": {"content": "x"}}]}
    upstream.script = lambda _: Reply(stream=[*sse(chunk, done=False), 1.0, *sse()])
    proxy = start_proxy(max_open_streams=1)
    body = {**BODY, "stream": True}
    with httpx.stream("POST", f"{proxy.url}/v1/messages", json=body, timeout=10) as first:
        assert first.status_code == 200
        pieces = first.iter_bytes()  # kept: a dropped iterator closes the response
        next(pieces)
        message = assert_error(post(proxy, None, body), 529, "overloaded_error")
        assert "MAX_OPEN_STREAMS" in message
        for _ in pieces:  # the first stream runs to its end
            pass
    with httpx.stream("POST", f"{proxy.url}/v1/messages", json=body, timeout=10) as again:
        assert again.status_code == 200
