"""The circuit breaker's hooks for sharing: each opening is announced once; an opening heard from
another replica is applied without being announced again, and cools down like a local one."""

from __future__ import annotations

from provider_proxy.services.breaker import CircuitBreakers, State


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_opening_is_announced_once() -> None:
    clock, opened = Clock(), []
    breakers = CircuitBreakers(2, 10.0, clock)
    breakers.on_open = opened.append
    breakers.failed("a/m")
    assert opened == []
    breakers.failed("a/m")
    breakers.failed("a/m")  # tried as a last resort while open: no news
    assert opened == ["a/m"] and breakers.state("a/m") is State.OPEN
    clock.now += 10
    assert breakers.order(["a/m"], str) == ["a/m"]  # the probe
    breakers.failed("a/m")  # the probe failed: open again, announced again
    assert opened == ["a/m", "a/m"]


def test_an_opening_from_another_replica_is_applied_quietly_and_cools_down() -> None:
    clock, opened = Clock(), []
    breakers = CircuitBreakers(3, 10.0, clock)
    breakers.on_open = opened.append
    breakers.open_from_peer("a/m")
    assert opened == [] and breakers.state("a/m") is State.OPEN
    assert breakers.order(["a/m", "b/m"], str) == ["b/m", "a/m"]
    clock.now += 10
    assert breakers.state("a/m") is State.HALF_OPEN
    breakers.succeeded("a/m")
    assert breakers.state("a/m") is State.CLOSED
