"""The background writer: requests put records on a queue; one task inserts them in batches.

A request never awaits the database. The writer takes whatever has queued up (up to `batch_size`)
and inserts it in one statement, so batches grow with load. `close` drains the queue before it
returns: records survive a graceful shutdown. If the store fails, the batch is logged and dropped
so that a broken database never stalls or kills the proxy.
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
    def __init__(self, store: UsageStore, *, batch_size: int = 500, max_queued: int = 100_000) -> None:
        self.store = store
        self._batch_size = batch_size
        self._queue: asyncio.Queue[RequestRecord | None] = asyncio.Queue(max_queued)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

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

    async def flush(self) -> None:
        """Wait until every record queued so far is in the store."""
        await self._queue.join()

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.put(_STOP)
            await self._task
            self._task = None
        await self.store.close()

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._take(await self._queue.get())
            try:
                if batch:
                    await self.store.insert(batch)
            except Exception:
                logger.exception("could not write %d usage record(s) to %s", len(batch), self.store.description)
            finally:
                for _ in range(len(batch) + stopping):
                    self._queue.task_done()

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
