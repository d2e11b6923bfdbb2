"""The background writer: requests put records on a queue; one task inserts them in batches.

A request never awaits the database. The writer takes whatever has queued up (up to `batch_size`)
and inserts it in one transaction, so batches grow with load. When the store fails (a database
restarting, a network blip), the batch is kept and retried with backoff (up to `max_backoff`
seconds apart) while new records queue behind it; in PostgreSQL rows are unique by request id, so a
batch whose commit went through unacknowledged is not counted twice. A request never waits for any of this: a
queue full of `max_queued` records drops new ones (counted and logged). `close` drains the queue
before it returns, retrying for at most `close_timeout` seconds when the store is down, and logs how
many records it could not write.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from provider_proxy.services.usage.record import RequestRecord
from provider_proxy.services.usage.store import UsageStore

logger = logging.getLogger(__name__)

_STOP: Final = None


class UsageWriter:
    def __init__(
        self,
        store: UsageStore,
        *,
        batch_size: int = 500,
        max_queued: int = 100_000,
        max_backoff: float = 5.0,
        close_timeout: float = 10.0,
    ) -> None:
        self.store = store
        self._batch_size = batch_size
        self._queue: asyncio.Queue[RequestRecord | None] = asyncio.Queue(max_queued)
        self._task: asyncio.Task[None] | None = None
        self._max_backoff = max_backoff
        self._close_timeout = close_timeout
        # Set by `close`: past it, a batch the store keeps refusing is given up.
        self._give_up_at: float | None = None
        self.dropped = 0
        self.lost = 0
        # The batch taken off the queue and not yet written.
        self._writing = 0

    async def start(self) -> None:
        await self.store.open()
        self._task = asyncio.create_task(self._run(), name="usage-writer")
        logger.info("usage records go to %s", self.store.description)

    def put(self, record: RequestRecord) -> None:
        """Queue one record; never blocks. A full queue (a stalled database) drops the record."""
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                logger.warning("usage queue full: %d record(s) dropped so far", self.dropped)

    def backlog(self) -> int:
        """Records queued and not yet in the store (a batch being retried included)."""
        return self._queue.qsize() + self._writing

    async def flush(self) -> None:
        """Wait until every record queued so far is in the store."""
        await self._queue.join()

    async def close(self) -> None:
        if self._task is not None:
            self._give_up_at = asyncio.get_running_loop().time() + self._close_timeout
            await self._queue.put(_STOP)
            await self._task
            self._task = None
        await self.store.close()

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._take(await self._queue.get())
            self._writing = len(batch)
            try:
                if batch:
                    await self._write(batch)
            finally:
                self._writing = 0
                for _ in range(len(batch) + stopping):
                    self._queue.task_done()

    async def _write(self, batch: list[RequestRecord]) -> None:
        """Insert the batch, retrying with backoff while the store fails (bounded once closing)."""
        loop = asyncio.get_running_loop()
        delay = 0.1
        failures = 0
        while True:
            try:
                await self.store.insert(batch)
            except Exception as exc:
                failures += 1
                if failures == 1:
                    logger.warning(
                        "could not write %d usage record(s) to %s (%s); retrying until it answers",
                        len(batch),
                        self.store.description,
                        exc,
                    )
                give_up = self._give_up_at
                if give_up is not None and loop.time() + delay > give_up:
                    self.lost += len(batch)
                    logger.error(
                        "gave up on %d usage record(s) at shutdown: %s did not answer within %gs",
                        len(batch),
                        self.store.description,
                        self._close_timeout,
                    )
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            if failures:
                logger.info(
                    "wrote %d usage record(s) to %s after %d failure(s)", len(batch), self.store.description, failures
                )
            return

    def _take(self, first: RequestRecord | None) -> tuple[list[RequestRecord], bool]:
        """The first item plus whatever else is queued, up to a batch; True once the stop mark is seen."""
        if first is None:
            return [], True
        batch = [first]
        while len(batch) < self._batch_size and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False
