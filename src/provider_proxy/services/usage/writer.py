"""The background writer: requests hand over records; the journal and the store get them in batches.

A request never awaits the disk or the database. `put` (a finished request's record) and `started` (a
stream about to be sent) append to a list; at the end of that turn of the event loop (under load at
most every `flush_interval`, so that a write carries many records) everything put since is appended to
the local journal (`journal`) in one `write` (to the page cache: a killed process cannot undo it; fsync
runs in a thread at most every USAGE_JOURNAL_FSYNC_SECONDS), and the finished records go to the
shipper task, which inserts them into the store in one transaction per batch, at most every
`ship_interval` (50 ms) unless a batch is full, so batches grow with load and the store's thread is
not woken for every few records. When the store fails (a database restarting, a network blip) the
batch is kept and retried with backoff (up to `max_backoff` seconds apart) while new records wait
behind it; in PostgreSQL rows are unique by request id, so a batch whose commit went through
unacknowledged is not counted twice. A journal segment is deleted once all its records are committed.

Past `max_queued` records waiting for the store, new records stay in the journal only, and are shipped
from its files (`replay`) once the store has caught up. Without a journal they are dropped (counted and
logged). The journals of processes that died (this one's predecessor, or any replica sharing the
directory) are shipped at start and looked for again every `orphan_seconds`.

`close` ships for at most `close_timeout` seconds when the store is down; what is left stays in the
journal for the next start (without a journal, it is counted as lost and logged).
"""

from __future__ import annotations

import asyncio
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


# How often the shipper, when idle, rotates an old journal segment and syncs what was written.
_UPKEEP_SECONDS: Final = 1.0


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
        flush_interval: float = 0.002,
        ship_interval: float = 0.05,
    ) -> None:
        self.store = store
        self.journal = journal
        self._batch_size = batch_size
        self._max_queued = max_queued
        # Entries put during this turn of the event loop, journalled together at its end.
        self._batch: list[tuple[Kind, RequestRecord]] = []
        self._scheduled = False
        # Journal writes are at least this far apart (loop time): under load each carries many records.
        self._flush_interval = flush_interval
        self._last_flush = 0.0
        # Finished records journalled (or not, without a journal) and waiting for the store, which gets
        # them at most every `ship_interval` seconds (unless a batch is full).
        self._pending: deque[RequestRecord] = deque()
        self._ship_interval = ship_interval
        self._last_ship = 0.0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
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
        # No usable journal: none given, not opened yet, or it failed (records wait in memory only).
        self.journal_failed = True
        # The batch taken off the pending records and not yet written.
        self._writing = 0

    async def start(self) -> None:
        await self.store.open()
        if self.journal is not None:
            try:
                await asyncio.to_thread(self.journal.open)
            except OSError as exc:
                logger.error(
                    "cannot open the usage journal in %s (%s): usage records wait for the store in memory only",
                    self.journal.directory,
                    exc,
                )
            else:
                self.journal_failed = False
                logger.info("usage records are journalled in %s", self.journal.directory)
        self._task = asyncio.create_task(self._ship_loop(), name="usage-writer")
        logger.info("usage records go to %s", self.store.description)

    def put(self, record: RequestRecord) -> None:
        """One finished request's record; never blocks. Without a journal, a full backlog (a stalled
        database) drops the record."""
        if self.journal_failed and len(self._batch) + len(self._pending) + self._writing >= self._max_queued:
            self._drop(1)
            return
        self._add((FINISHED, record))

    def started(self, record: RequestRecord) -> None:
        """A stream is about to be sent: journal its start, so that a crash leaves an "interrupted" record."""
        if not self.journal_failed:
            self._add((STARTED, record))

    def _add(self, entry: tuple[Kind, RequestRecord]) -> None:
        self._batch.append(entry)
        if not self._scheduled:
            self._scheduled = True
            loop = asyncio.get_running_loop()
            wait = self._last_flush + self._flush_interval - loop.time()
            if wait > 0:
                loop.call_later(wait, self._flush)
            else:
                loop.call_soon(self._flush)

    def backlog(self) -> int:
        """Records not yet in the store: being journalled, waiting for the store (a batch being retried
        included) and held only in the journal."""
        in_memory = len(self._pending) + self._writing
        spilled = self.journal.unshipped() - in_memory if self.journal is not None else 0
        return len(self._batch) + in_memory + max(spilled, 0)

    async def flush(self) -> None:
        """Wait until every record put so far is in the store."""
        self._flush()
        while self._pending or self._writing or (self.journal is not None and self.journal.has_spilled()):
            self._idle.clear()
            self._wake.set()
            await self._idle.wait()

    async def close(self) -> None:
        self._flush()
        if self._task is not None:
            self._give_up_at = asyncio.get_running_loop().time() + self._close_timeout
            self._stopping = True
            self._wake.set()
            await self._task
            self._task = None
        if self._sync is not None:
            await self._sync
        if self.journal is not None and self.journal.is_open:
            self.journal_failed = True  # a record put from now on is not journalled
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

    # At the end of a turn of the event loop: the entries put in it -> the journal (one write) -> the
    # pending records for the store.

    def _flush(self) -> None:
        self._scheduled = False
        if not self._batch:
            return
        self._last_flush = asyncio.get_running_loop().time()
        entries, self._batch = self._batch, []
        finished = [record for kind, record in entries if kind == FINISHED]
        room = self._max_queued - len(self._pending) - self._writing
        if not self.journal_failed and self._journal(entries, spill=len(finished) > room):
            if len(finished) > room:
                return  # in the journal only: shipped from its file once the store has caught up
        elif len(finished) > room:
            self._drop(len(finished) - max(room, 0))
            finished = finished[: max(room, 0)]
        if finished:  # a batch of stream starts only: nothing for the shipper
            self._pending.extend(finished)
            self._wake.set()

    def _journal(self, entries: list[tuple[Kind, RequestRecord]], *, spill: bool) -> bool:
        journal = self.journal
        assert journal is not None
        try:
            journal.write(entries, spill=spill)
        except OSError as exc:
            self.journal_failed = True
            logger.error(
                "cannot write the usage journal in %s (%s): usage records are kept in memory only until a restart",
                journal.directory,
                exc,
            )
            return False
        self._maybe_sync(journal)
        return True

    def _maybe_sync(self, journal: Journal) -> None:
        if (self._sync is None or self._sync.done()) and journal.sync_due():
            self._sync = asyncio.create_task(asyncio.to_thread(journal.sync), name="usage-journal-sync")

    # The shipper: pending records and journal files -> the store.

    async def _ship_loop(self) -> None:
        loop = asyncio.get_running_loop()
        upkeep = min(self._orphan_seconds, _UPKEEP_SECONDS)
        next_orphan_scan = next_upkeep = loop.time()
        while True:
            try:
                if self._pending:
                    await self._gather(loop)
                    await self._ship_pending()
                    continue
                journal = self.journal
                if journal is not None and journal.is_open:
                    if await self._replay_spilled(journal):
                        continue
                    now = loop.time()
                    if not self._stopping and now >= next_orphan_scan:
                        await self._adopt_orphans(journal)
                        next_orphan_scan = loop.time() + self._orphan_seconds
                        continue
                    if now >= next_upkeep and not self.journal_failed:
                        self._maintain(journal)
                        next_upkeep = now + upkeep
            except _GaveUp:
                self._give_up_pending()
                return
            except Exception:  # a bug must not stop usage recording for the life of the process
                logger.exception("the usage writer failed; it carries on in a second")
                await asyncio.sleep(1.0)
                continue
            if self._stopping:
                return
            self._idle.set()
            self._wake.clear()
            await self._wait(upkeep)

    async def _wait(self, timeout: float) -> None:
        """Until woken, or `timeout` seconds for the journal's upkeep (a timer, not `wait_for`, which
        costs a task per call in Python 3.11)."""
        timer = asyncio.get_running_loop().call_later(timeout, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            timer.cancel()

    async def _gather(self, loop: asyncio.AbstractEventLoop) -> None:
        """Let the batch grow until `ship_interval` after the last shipment (or to a full batch): each
        shipment is a round trip to a thread (and the GIL passed back and forth), not each record."""
        wait = self._last_ship + self._ship_interval - loop.time()
        if wait > 0 and len(self._pending) < self._batch_size and not self._stopping:
            await asyncio.sleep(wait)
        self._last_ship = loop.time()

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
        if self.journal is not None and self.journal.is_open:
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
        if not self.journal_failed:
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
