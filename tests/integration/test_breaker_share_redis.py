"""Circuit breakers shared through a real Redis: a target one proxy finds failing is skipped by the
other at once; without Redis each proxy keeps its own breakers and serves as before."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis

from provider_proxy.services.breaker import CircuitBreakers, State
from provider_proxy.services.breaker_share import CHANNEL
from tests.integration.test_fallbacks_http import config, post
from tests.support.fake_upstream import FakeUpstream, Reply, completion
from tests.support.proxy_server import ProxyServer
from tests.support.redis_server import RedisServer, start_redis


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def backup() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


def state(proxy: ProxyServer, target: str) -> State:
    breakers = proxy.app.state.proxy.dispatcher.breakers
    assert isinstance(breakers, CircuitBreakers)
    return breakers.state(target)


def wait_until(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_breaker_opened_on_one_proxy_opens_on_the_other(
    start_proxy: Callable[..., ProxyServer],
    upstream: FakeUpstream,
    backup: FakeUpstream,
    redis: RedisServer,
    tmp_path: Path,
) -> None:
    upstream.script = lambda _: Reply(status=503, json={"error": {"message": "down"}})
    backup.script = lambda _: Reply(json=completion("backup"))
    settings = {"breaker_failures": 2, "breaker_cooldown": 30.0, "config_file": config(tmp_path, backup.url)}
    first, second = (start_proxy(redis_url=redis.url, **settings) for _ in range(2))
    listening = Redis.from_url(redis.url)
    wait_until(lambda: listening.pubsub_numsub(CHANNEL) == [(CHANNEL.encode(), 2)])  # both proxies listen
    listening.close()
    for _ in range(2):
        assert post(first).status_code == 200  # the primary fails, the backup answers
    assert len(upstream.requests) == 2 and state(first, "default/big-model") is State.OPEN
    wait_until(lambda: state(second, "default/big-model") is State.OPEN)
    assert post(second).json()["content"][0]["text"] == "backup"
    assert len(upstream.requests) == 2  # the second proxy did not try the failing target


def test_without_redis_each_proxy_keeps_its_own_breakers(
    start_proxy: Callable[..., ProxyServer],
    upstream: FakeUpstream,
    backup: FakeUpstream,
    redis: RedisServer,
    tmp_path: Path,
) -> None:
    upstream.script = lambda _: Reply(status=503, json={"error": {"message": "down"}})
    backup.script = lambda _: Reply(json=completion("backup"))
    redis.stop()
    settings = {"breaker_failures": 1, "breaker_cooldown": 30.0, "config_file": config(tmp_path, backup.url)}
    proxy = start_proxy(redis_url=redis.url, **settings)
    assert post(proxy).status_code == 200  # opens the breaker; telling the others fails quietly
    assert post(proxy).status_code == 200
    assert len(upstream.requests) == 1 and state(proxy, "default/big-model") is State.OPEN
