"""Noticing a client that leaves while its request waits for the upstream, and cancelling the request.

The server drops writes to a gone client silently, so only a reader of `receive()` learns of the
disconnect. A waiter on `receive()` per request costs a task and its cancellation, about 4% of a small
request's whole cost in the proxy, and almost every request that is quick enough to notice the cost
is over before a waiter could matter. So waiters are handed out by one timer for all requests
(`ClientWatches`): every `WATCH_AFTER` seconds, each request whose body had been read at the previous
tick and that is still going gets one. A request pays a set insertion; a client that leaves is noticed
at most two ticks after its body (at once when its request is older than that).

The waiter starts only after the request body: a second reader before then would take body messages.
"""

from __future__ import annotations

import asyncio
from typing import Final

from starlette.types import Message, Receive

# Seconds between the ticks that hand out waiters.
WATCH_AFTER: Final = 0.05


class ClientWatch:
    """One request: its body is read through `receive`; `stop` when its answer is ready."""

    __slots__ = ("_body_read", "_cancelled", "_receive", "_seen", "_task", "_waiter", "_watches")

    def __init__(self, receive: Receive, watches: ClientWatches) -> None:
        self._receive = receive
        self._watches = watches
        self._task = asyncio.current_task()
        self._waiter: asyncio.Future[Message] | None = None
        self._body_read = False
        self._seen = False
        self._cancelled = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            self._body_read = True
        return message

    def tick(self) -> None:
        """Called by the timer: a waiter once the body was read a whole tick ago."""
        if not self._body_read or self._waiter is not None:
            return
        if not self._seen:
            self._seen = True
            return
        waiter = self._waiter = asyncio.ensure_future(self._receive())
        waiter.add_done_callback(self._received)

    def _received(self, done: asyncio.Future[Message]) -> None:
        if done.cancelled() or done.exception() is not None or done.result()["type"] != "http.disconnect":
            return
        if self._task is not None and self._watches.holds(self):
            self._cancelled = True
            self._task.cancel()

    def cancelled_task(self) -> bool:
        """The task's cancellation was this watch's doing (and is taken back), not a shutdown's."""
        task = self._task
        return self._cancelled and task is not None and task.uncancel() == 0

    def stop(self) -> None:
        self._watches.discard(self)
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.cancel()


class ClientWatches:
    """The requests in flight, and the one timer that ticks while there are any."""

    __slots__ = ("_timer", "_watches")

    def __init__(self) -> None:
        self._watches: set[ClientWatch] = set()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, receive: Receive) -> ClientWatch:
        watch = ClientWatch(receive, self)
        self._watches.add(watch)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER, self._tick)
        return watch

    def holds(self, watch: ClientWatch) -> bool:
        return watch in self._watches

    def discard(self, watch: ClientWatch) -> None:
        self._watches.discard(watch)

    def _tick(self) -> None:
        self._timer = None
        for watch in list(self._watches):
            watch.tick()
        if self._watches:
            self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER, self._tick)
