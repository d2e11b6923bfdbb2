"""The background writer: requests put records on a queue; background tasks journal and store them.

A request never awaits the disk or the database: `put` (a finished request's record) and `started`
(a stream about to be sent) are a queue put each. The journal task takes whatever has queued up (up to
`batch_size`), appends it to the local journal (`journal`) in one write, and hands the finished
records to the shipper, which inserts them into the store in one transaction per batch, so batches
grow with load. When the store fails (a database restarting, a network blip) the batch is kept and
retried with backoff (up to `max_backoff` seconds apart) while new records queue behind it; in
PostgreSQL rows are unique by request id, so a batch whose commit went through unacknowledged is not
counted twice. A journal segment is deleted once all its records are committed.

Past `max_queued` records waiting for the store, new records stay in the journal only, and are
shipped from its files (`replay`) once the store answers again. Without a journal they are dropped
(counted and logged). The journals of processes that died (this one's predecessor, or any replica
sharing the directory) are shipped at start and looked for again every `orphan_seconds`.

`close` drains the queue into the journal, then ships for at most `close_timeout` seconds when the
store is down; what is left stays in the journal for the next start (without one, it is counted as
lost and logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Final

from provider_proxy.services.usage.journal import FINISHED, STARTED, Journal, Kind, Orphan, Segment
from provider_proxy.services.usage.record import RequestRecord
from provider_proxy.services.usage.replay import finished_records, insert_missing, replay_orphan
from provider_proxy.services.usage.store import UsageStore

logger = logging.getLogger(__name__)

_STOP: Final = None


class _Started:
    """Queue item: a stream is about to be sent (journalled, not stored)."""

    __slots__ = ("record",)

    def __init__(self, record: RequestRecord) -> None:
        self.record = record


_Item = RequestRecord | _Started | None


class _GaveUp(Exception):
    """The store kept failing past the shutdown deadline."""


class UsageWriter:
    def __init__(
        self,
        store: UsageStore,
        journal: Journal | None = None,
        *,
        batch_size: int = 500,
        max_queued: int = 100_000,
        max_backoff: float = 5.0,
        close_timeout: float = 10.0,
        orphan_seconds: float = 60.0,
    ) -> None:
        self.store = store
        self.journal = journal
        self._batch_size = batch_size
        self._max_queued = max_queued
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(max_queued)
        # Finished records journalled (or not, without a journal) and waiting for the store.
        self._pending: deque[RequestRecord] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sync: asyncio.Task[None] | None = None
        self._max_backoff = max_backoff
        self._close_timeout = close_timeout
        self._orphan_seconds = orphan_seconds
        self._stopping = False
        # Set by `close`: past it, a batch the store keeps refusing is given up (left in the journal).
        self._give_up_at: float | None = None
        self.dropped = 0
        self.lost = 0
        self.left_in_journal = 0
        self.journal_failed = False
        # The batch taken off the pending records and not yet written.
        self._writing = 0

    async def start(self) -> None:
        await self.store.open()
        if self.journal is not None:
            await asyncio.to_thread(self.journal.open)
            logger.info("usage records are journalled in %s", self.journal.directory)
        self._tasks = [
            asyncio.create_task(self._journal_loop(), name="usage-journal"),
            asyncio.create_task(self._ship_loop(), name="usage-writer"),
        ]
        logger.info("usage records go to %s", self.store.description)

    def put(self, record: RequestRecord) -> None:
        """Queue one finished record; never blocks. A full queue (a stuck disk) drops the record."""
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self._drop(1)

    def started(self, record: RequestRecord) -> None:
        """A stream is about to be sent: journal its start, so that a crash leaves an "interrupted" record."""
        if self.journal is not None:
            # A full queue: its finished record, if it comes, still counts.
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(_Started(record))

    def backlog(self) -> int:
        """Records not yet in the store: queued, waiting for the store (a batch being retried
        included) and held only in the journal."""
        spilled = self.journal.unshipped() - len(self._pending) - self._writing if self.journal else 0
        return self._queue.qsize() + len(self._pending) + self._writing + max(spilled, 0)

    async def flush(self) -> None:
        """Wait until every record queued so far is in the store."""
        await self._queue.join()
        while self._pending or self._writing or (self.journal and self.journal.has_spilled()):
            self._idle.clear()
            self._wake.set()
            await self._idle.wait()

    async def close(self) -> None:
        if self._tasks:
            self._give_up_at = asyncio.get_running_loop().time() + self._close_timeout
            await self._queue.put(_STOP)
            await asyncio.gather(*self._tasks)
            self._tasks = []
        if self._sync is not None:
            await self._sync
        if self.journal is not None:
            self.left_in_journal = await asyncio.to_thread(self.journal.close)
            if self.left_in_journal:
                logger.warning(
                    "%d usage record(s) stay in the journal %s: the next start on this DATA_DIR writes them to %s",
                    self.left_in_journal,
                    self.journal.directory,
                    self.store.description,
                )
        await self.store.close()

    def _drop(self, count: int) -> None:
        self.dropped += count
        if self.dropped % 1000 < count or count >= 1000:
            logger.warning("usage queue full: %d record(s) dropped so far", self.dropped)

    # The journal task: queue -> journal file -> pending records for the store.

    async def _journal_loop(self) -> None:
        stopping = False
        while not stopping:
            items, stopping = self._take(await self._queue.get())
            try:
                if items:
                    self._journal(items)
            finally:
                for _ in range(len(items) + stopping):
                    self._queue.task_done()
        self._stopping = True
        self._wake.set()

    def _journal(self, items: list[RequestRecord | _Started]) -> None:
        finished = [item for item in items if isinstance(item, RequestRecord)]
        room = self._max_queued - len(self._pending) - self._writing
        journal = self.journal
        if journal is not None and not self.journal_failed:
            entries: list[tuple[Kind, RequestRecord]] = [
                (FINISHED, item) if isinstance(item, RequestRecord) else (STARTED, item.record) for item in items
            ]
            try:
                journal.write(entries, spill=len(finished) > room)
            except OSError as exc:
                self.journal_failed = True
                logger.error(
                    "cannot write the usage journal in %s (%s): usage records are kept in memory only until a restart",
                    journal.directory,
                    exc,
                )
            else:
                self._maybe_sync(journal)
                if len(finished) > room:
                    return  # in the journal only: shipped from its file once the store has caught up
        if len(finished) > room:
            self._drop(len(finished))
            return
        self._pending.extend(finished)
        self._wake.set()

    def _maybe_sync(self, journal: Journal) -> None:
        if (self._sync is None or self._sync.done()) and journal.sync_due():
            self._sync = asyncio.create_task(asyncio.to_thread(journal.sync), name="usage-journal-sync")

    def _take(self, first: _Item) -> tuple[list[RequestRecord | _Started], bool]:
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

    # The shipper: pending records and journal files -> the store.

    async def _ship_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_orphan_scan = loop.time()
        while True:
            try:
                if self._pending:
                    await self._ship_pending()
                    continue
                if self.journal is not None and not self.journal_failed:
                    if await self._replay_spilled(self.journal):
                        continue
                    if not self._stopping and loop.time() >= next_orphan_scan:
                        await self._adopt_orphans(self.journal)
                        next_orphan_scan = loop.time() + self._orphan_seconds
                        continue
                    self._maintain(self.journal)
            except _GaveUp:
                self._give_up_pending()
                return
            if self._stopping:
                return
            self._idle.set()
            self._wake.clear()
            await self._wait(self._orphan_seconds if self.journal is None else min(self._orphan_seconds, 5.0))

    async def _wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _ship_pending(self) -> None:
        batch = [self._pending.popleft() for _ in range(min(self._batch_size, len(self._pending)))]
        self._writing = len(batch)
        try:
            await self._retrying(len(batch), lambda: self.store.insert(batch))
        except _GaveUp:
            self._pending.extendleft(reversed(batch))
            raise
        finally:
            self._writing = 0
        if self.journal is not None and not self.journal_failed:
            self.journal.shipped(len(batch))

    async def _replay_spilled(self, journal: Journal) -> bool:
        segments = journal.take_spilled()
        for segment in segments:
            await self._retrying(segment.spilled, partial(self._replay_segment, segment))
            journal.replayed(segment)
        return bool(segments)

    async def _replay_segment(self, segment: Segment) -> None:
        records = await asyncio.to_thread(finished_records, segment.path)
        await insert_missing(self.store, records)

    async def _adopt_orphans(self, journal: Journal) -> None:
        for orphan in await asyncio.to_thread(journal.orphans):
            try:
                await self._retrying(len(orphan.segments), partial(self._replay_orphan, orphan))
            except BaseException:
                orphan.let_go()
                raise

    async def _replay_orphan(self, orphan: Orphan) -> None:
        inserted, interrupted = await replay_orphan(self.store, orphan)
        logger.info(
            "shipped the usage journal %s left by a stopped proxy: "
            "%d record(s) written, %d of them interrupted streams",
            orphan.lock_path.name.removesuffix(".lock"),
            inserted,
            interrupted,
        )

    def _maintain(self, journal: Journal) -> None:
        try:
            journal.tick()
        except OSError as exc:
            logger.warning("usage journal upkeep failed in %s: %s", journal.directory, exc)
        self._maybe_sync(journal)

    def _give_up_pending(self) -> None:
        count = len(self._pending)
        self._pending.clear()
        if self.journal is not None and not self.journal_failed:
            return  # they stay in the journal
        self.lost += count
        logger.error(
            "gave up on %d usage record(s) at shutdown: %s did not answer within %gs",
            count,
            self.store.description,
            self._close_timeout,
        )

    async def _retrying(self, count: int, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` until it succeeds, with backoff while the store fails (bounded once closing)."""
        loop = asyncio.get_running_loop()
        delay = 0.1
        failures = 0
        while True:
            try:
                await action()
            except Exception as exc:
                failures += 1
                if failures == 1:
                    logger.warning(
                        "could not write %d usage record(s) to %s (%s); retrying until it answers",
                        count,
                        self.store.description,
                        exc,
                    )
                give_up = self._give_up_at
                if give_up is not None and loop.time() + delay > give_up:
                    raise _GaveUp from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            if failures:
                logger.info(
                    "wrote %d usage record(s) to %s after %d failure(s)", count, self.store.description, failures
                )
            return
