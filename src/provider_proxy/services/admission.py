"""How many requests the proxy serves at once: a slot per `/v1/messages` request (a stream holds its
slot until it ends), a short line of waiting requests, and a 529 for the rest.

When every slot is taken a request waits in line for at most QUEUE_TIMEOUT seconds; when the line is
full too (MAX_QUEUED_REQUESTS) it is refused at once. Either way the client gets `overloaded_error`,
which Claude Code and the SDKs retry with backoff: better than a pile-up that slows every request down
until they all time out. Slots are handed to waiters in arrival order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

from provider_proxy.errors import ProxyError
from provider_proxy.services.metrics import ProxyMetrics

_FULL: Final = "the proxy is serving as many requests as it may (MAX_CONCURRENT_REQUESTS)"


class Gate:
    def __init__(self, slots: int, queue: int, wait: float, metrics: ProxyMetrics) -> None:
        self.slots = slots
        self.queue = queue
        self.wait = wait
        self.taken = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._metrics = metrics
        metrics.requests_in_flight.set_function(lambda: self.taken)
        metrics.requests_queued.set_function(lambda: len(self._waiters))

    def enter_now(self) -> bool:
        """Take a slot if one is free and nobody waits for it (no await: the common case)."""
        if self.taken < self.slots and not self._waiters:
            self.taken += 1
            return True
        return False

    async def enter(self) -> None:
        """Take a slot, waiting in line; raises the client's 529 when the line is full or the wait too long."""
        if self.enter_now():
            return
        if len(self._waiters) >= self.queue:
            self._metrics.overloaded.labels("queue_full").inc()
            raise ProxyError("overloaded_error", f"{_FULL}, and {self.queue} more wait already; retry shortly")
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.wait)
        except TimeoutError:
            if not waiter.done():
                self._waiters.remove(waiter)
                self._metrics.overloaded.labels("queue_timeout").inc()
                raise ProxyError("overloaded_error", f"{_FULL}; no slot came free within {self.wait:g} s") from None
        except BaseException:
            if waiter.done():
                self.leave()  # the slot was handed over as this request was cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def leave(self) -> None:
        """Give the slot back, to the first waiter if there is one."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot moves to the waiter: `taken` stays
                return
        self.taken -= 1
