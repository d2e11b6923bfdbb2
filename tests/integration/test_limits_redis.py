"""Per-key limits shared through a real Redis (Debian's redis-server, started here): two proxies count
against one limit; an unreachable Redis leaves the proxy serving with per-process counts (or refusing,
with LIMITS_FAIL_CLOSED), and says so in the log and /metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from provider_proxy.cli.keys import create_key
from tests.integration.test_keys_http import BODY, NONE, assert_error, dollar_a_token_config, post
from tests.support.fake_upstream import FakeUpstream, Reply, completion
from tests.support.proxy_server import ProxyServer
from tests.support.redis_server import RedisServer, start_redis


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.stop()


def metric(proxy: ProxyServer, name: str, key: str) -> str:
    text = httpx.get(f"{proxy.url}/metrics", headers={"x-api-key": key}, timeout=5).text
    return next(line for line in text.splitlines() if line.startswith(name))


def test_two_proxies_sharing_redis_count_one_limit(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, redis: RedisServer, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.json"
    alice = create_key(keys, "alice", NONE, rpm=3)
    upstream.script = lambda _: Reply(json=completion("ok"))
    first, second = (start_proxy(keys_file=keys, redis_url=redis.url) for _ in range(2))
    statuses = [post(proxy, alice).status_code for proxy in (first, second, first, second)]
    assert statuses == [200, 200, 200, 429]
    assert_error(post(first, alice), 429, "rate_limit_error")
    assert len(upstream.requests) == 3


def test_spend_on_one_proxy_counts_against_the_budget_on_another(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, redis: RedisServer, tmp_path: Path
) -> None:
    config = dollar_a_token_config(tmp_path)
    keys = tmp_path / "keys.json"
    alice = create_key(keys, "alice", NONE, monthly_budget=2.0)
    upstream.script = lambda _: Reply(json=completion("ok", usage={"prompt_tokens": 3, "completion_tokens": 1}))
    settings = {"keys_file": keys, "config_file": config, "redis_url": redis.url, "usage_tracking": False}
    first, second = start_proxy(**settings), start_proxy(**settings)
    assert post(first, alice).status_code == 200
    deadline = time.monotonic() + 5
    while (refused := post(second, alice)).status_code == 200:  # the spend is counted in the background
        assert time.monotonic() < deadline, "the second proxy never saw the first one's spend"
        time.sleep(0.05)
    assert "monthly budget of $2.00 ($3.00 spent in" in assert_error(refused, 400, "invalid_request_error")


def test_an_unreachable_redis_fails_open_with_per_process_counts_and_says_so(
    start_proxy: Callable[..., ProxyServer],
    upstream: FakeUpstream,
    redis: RedisServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    keys = tmp_path / "keys.json"
    alice = create_key(keys, "alice", NONE, rpm=2)
    admin = create_key(keys, "ops", NONE, admin=True)
    upstream.script = lambda _: Reply(json=completion("ok"))
    proxy = start_proxy(keys_file=keys, redis_url=redis.url)
    assert post(proxy, alice).status_code == 200
    assert metric(proxy, "proxy_limits_shared_up", admin) == "proxy_limits_shared_up 1.0"
    redis.stop()
    with caplog.at_level(logging.WARNING, logger="provider_proxy.services.limits.limiter"):
        started = time.monotonic()
        statuses = [post(proxy, alice).status_code for _ in range(3)]
        # Counted in this process now: it starts from nothing, and allows its own 2 per minute.
        assert statuses == [200, 200, 429]
        assert time.monotonic() - started < 3, "an unreachable Redis must not cost every request a timeout"
    assert any("Redis unreachable" in r.getMessage() and "this process only" in r.getMessage() for r in caplog.records)
    assert metric(proxy, "proxy_limits_shared_up", admin) == "proxy_limits_shared_up 0.0"
    assert float(metric(proxy, "proxy_limits_store_errors_total", admin).split()[1]) >= 1


def test_limits_fail_closed_refuses_limited_keys_while_redis_is_unreachable(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, redis: RedisServer, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.json"
    alice = create_key(keys, "alice", NONE, rpm=100)
    bob = create_key(keys, "bob", NONE)
    upstream.script = lambda _: Reply(json=completion("ok"))
    proxy = start_proxy(keys_file=keys, redis_url=redis.url, limits_fail_closed=True)
    assert post(proxy, alice).status_code == 200
    redis.stop()
    message = assert_error(post(proxy, alice), 529, "overloaded_error")
    assert "LIMITS_FAIL_CLOSED" in message
    assert post(proxy, bob).status_code == 200  # a key without limits does not need Redis


def test_budgets_in_a_new_redis_start_from_the_usage_store(
    start_proxy: Callable[..., ProxyServer], upstream: FakeUpstream, redis: RedisServer, tmp_path: Path
) -> None:
    config = dollar_a_token_config(tmp_path)
    keys = tmp_path / "keys.json"
    alice = create_key(keys, "alice", NONE, daily_budget=2.0)
    upstream.script = lambda _: Reply(json=completion("ok", usage={"prompt_tokens": 3, "completion_tokens": 1}))
    settings = {"keys_file": keys, "config_file": config, "data_dir": tmp_path / "data"}
    alone = start_proxy(**settings)  # no Redis yet: $3 spent, in the usage store
    assert post(alone, alice).status_code == 200
    alone.stop()
    shared = start_proxy(**settings, redis_url=redis.url)
    assert_error(post(shared, alice, BODY), 400, "invalid_request_error")


def test_limits_are_shared_again_once_redis_answers_again(
    start_proxy: Callable[..., ProxyServer],
    upstream: FakeUpstream,
    redis: RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("provider_proxy.services.limits.limiter._RETRY_SECONDS", 0.2)
    keys = tmp_path / "keys.json"
    alice = create_key(keys, "alice", NONE, rpm=1000)
    admin = create_key(keys, "ops", NONE, admin=True)
    upstream.script = lambda _: Reply(json=completion("ok"))
    proxy = start_proxy(keys_file=keys, redis_url=redis.url)
    redis.stop()
    assert post(proxy, alice).status_code == 200
    assert metric(proxy, "proxy_limits_shared_up", admin) == "proxy_limits_shared_up 0.0"
    redis.start()  # the same port, empty
    time.sleep(0.3)
    assert post(proxy, alice).status_code == 200
    assert metric(proxy, "proxy_limits_shared_up", admin) == "proxy_limits_shared_up 1.0"
