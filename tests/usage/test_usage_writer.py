"""The background writer: batches, drains on close, and survives a failing store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from provider_proxy.services.usage.postgres_store import PostgresStore
from provider_proxy.services.usage.record import RequestRecord
from provider_proxy.services.usage.sqlite_store import SQLiteStore
from provider_proxy.services.usage.writer import UsageWriter
from tests.support.usage_data import record


class CountingStore:
    """A store that keeps batches in memory; optionally fails its first `failures` inserts."""

    description = "memory"

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[RequestRecord]] = []
        self.failures = failures

    async def open(self) -> None:
        pass

    async def insert(self, records: Sequence[RequestRecord]) -> None:
        await asyncio.sleep(0)
        if self.failures:
            self.failures -= 1
            raise OSError("the database is restarting")
        self.batches.append(list(records))

    async def select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return []

    async def close(self) -> None:
        pass


async def test_records_queued_before_close_are_all_written(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "usage.db")
    writer = UsageWriter(store)
    await writer.start()
    for number in range(250):
        writer.put(record(request_id=f"req_{number}"))
    await writer.close()
    await store.open()
    assert await store.select("SELECT COUNT(*) FROM usage_records") == [(250,)]
    await store.close()


async def test_a_burst_of_records_is_written_in_batches() -> None:
    store = CountingStore()
    writer = UsageWriter(store, batch_size=100)
    await writer.start()
    for number in range(1000):
        writer.put(record(request_id=f"req_{number}"))
    await writer.flush()
    await writer.close()
    assert sum(len(batch) for batch in store.batches) == 1000
    assert len(store.batches) <= 11


async def test_records_trickling_in_are_shipped_every_ship_interval_not_one_by_one() -> None:
    """As under steady load: a record every 2 ms for 0.3 s. Each shipment is a round trip to the store's
    thread, so they are gathered for `ship_interval`; none waits much longer than that."""
    store = CountingStore()
    writer = UsageWriter(store, ship_interval=0.1)
    await writer.start()
    for number in range(150):
        writer.put(record(request_id=f"req_{number}"))
        await asyncio.sleep(0.002)
    await asyncio.sleep(0.25)
    assert sum(len(batch) for batch in store.batches) == 150  # all shipped without a flush
    assert len(store.batches) <= 6  # ~0.3 s / 0.1 s, plus the first record shipped at once
    await writer.close()


async def test_a_store_that_fails_for_a_while_loses_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    store = CountingStore(failures=4)
    writer = UsageWriter(store, max_backoff=0.05)
    await writer.start()
    writer.put(record(request_id="req_first"))
    await asyncio.sleep(0.02)
    for number in range(50):  # queued behind the failing batch while the store is away
        writer.put(record(request_id=f"req_{number}"))
    await writer.close()
    written = [r.request_id for batch in store.batches for r in batch]
    assert written == ["req_first", *(f"req_{number}" for number in range(50))]
    assert writer.lost == 0
    assert "could not write 1 usage record(s) to memory (the database is restarting); retrying" in caplog.text
    assert "after 4 failure(s)" in caplog.text


async def test_at_shutdown_a_store_that_never_answers_is_given_up_after_close_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = CountingStore(failures=10_000)
    writer = UsageWriter(store, max_backoff=0.05, close_timeout=0.3)
    await writer.start()
    writer.put(record(request_id="req_doomed"))
    started = asyncio.get_running_loop().time()
    await writer.close()
    assert asyncio.get_running_loop().time() - started < 2
    assert writer.lost == 1
    assert "gave up on 1 usage record(s) at shutdown" in caplog.text


async def test_a_batch_written_twice_to_postgresql_is_stored_once(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    batch = [record(request_id="req_once"), record(request_id="req_twice")]
    await store.insert(batch)
    await store.insert(batch[1:])  # a retry after a commit whose acknowledgement was lost
    assert await store.select("SELECT request_id FROM usage_records ORDER BY request_id") == [
        ("req_once",),
        ("req_twice",),
    ]
    await store.close()


async def test_a_full_queue_drops_records_instead_of_blocking_the_request() -> None:
    writer = UsageWriter(CountingStore(), max_queued=2)
    for number in range(5):
        writer.put(record(request_id=f"req_{number}"))
    assert writer.dropped == 3


async def test_the_backlog_counts_queued_records_and_the_batch_being_retried() -> None:
    store = CountingStore(failures=10_000)
    writer = UsageWriter(store, max_backoff=0.05, close_timeout=0.1, max_queued=3)
    await writer.start()
    for number in range(5):
        writer.put(record(request_id=f"req_{number}"))
    await asyncio.sleep(0.05)  # the first batch is taken and fails; the rest waits behind it
    assert writer.backlog() == 3
    assert writer.dropped == 2
    await writer.close()
    assert writer.lost == 3
