"""A small circuit breaker per upstream target (`provider/model`), so fallbacks skip a target that
keeps failing instead of spending the client's deadline on it.

Closed: requests go through; `failures` retryable failures in a row open it. Open: the target is
skipped for `cooldown` seconds. Half-open: after the cool-down one request (the probe) goes through;
its success closes the breaker, its failure opens it again. A target whose breaker is open is still
tried when every target of a route is open: the breaker reorders, it never leaves a request with
nowhere to go.

`on_open` hears of each breaker this process opens (`services.breaker_share` tells the other replicas);
`open_from_peer` opens one because another replica did, without telling anyone again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum, auto
from typing import Final, TypeVar

from provider_proxy.utils.cache import BoundedCache

T = TypeVar("T")
_LIMIT: Final = 1024  # targets with a failure on record; pass-through model names are unbounded


class State(Enum):
    CLOSED = auto()
    OPEN = auto()
    HALF_OPEN = auto()


@dataclass(slots=True)
class _Breaker:
    failures: int = 0
    state: State = State.CLOSED
    opened_at: float = 0.0


class CircuitBreakers:
    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold = failures
        self._cooldown = cooldown
        self._clock = clock
        # Only targets with a failure on record are kept: success removes the entry.
        self._breakers: BoundedCache[str, _Breaker] = BoundedCache(_LIMIT)
        self.on_open: Callable[[str], None] | None = None

    def state(self, target: str) -> State:
        """CLOSED, OPEN while cooling down (or while its probe is out), HALF_OPEN when a probe may go."""
        breaker = self._breakers.get(target)
        if breaker is None or breaker.state is State.CLOSED:
            return State.CLOSED
        return State.HALF_OPEN if self._clock() - breaker.opened_at >= self._cooldown else State.OPEN

    def order(self, targets: Sequence[T], label: Callable[[T], str]) -> list[T]:
        """The targets to try, in route order: those that may be tried now first, then the open ones
        as a last resort. A half-open target is let through once (its probe), then counts as open."""
        ready: list[T] = []
        cooling: list[T] = []
        for target in targets:
            name = label(target)
            state = self.state(name)
            if state is State.HALF_OPEN:
                # This request is the probe: the others see the target open until it reports back
                # (or for another cool-down, should the probe never report).
                breaker = self._breakers.get(name)
                assert breaker is not None
                breaker.state, breaker.opened_at = State.HALF_OPEN, self._clock()
            (cooling if state is State.OPEN else ready).append(target)
        return ready + cooling

    def succeeded(self, target: str) -> None:
        self._breakers.pop(target)

    def failed(self, target: str) -> None:
        breaker = self._breakers.get(target) or self._breakers.put(target, _Breaker())
        breaker.failures += 1
        was_open = breaker.state is State.OPEN
        if breaker.state is State.HALF_OPEN or breaker.failures >= self._threshold:
            breaker.state, breaker.opened_at = State.OPEN, self._clock()
            if not was_open and self.on_open is not None:
                self.on_open(target)

    def open_from_peer(self, target: str) -> None:
        """Another process opened `target`'s breaker: skip it here too for a cool-down from now."""
        breaker = self._breakers.get(target) or self._breakers.put(target, _Breaker())
        breaker.failures = max(breaker.failures, self._threshold)
        breaker.state, breaker.opened_at = State.OPEN, self._clock()
