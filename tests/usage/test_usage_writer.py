"""The background writer: batches, drains on close, and survives a failing store."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from provider_proxy.services.usage.record import RequestRecord
from provider_proxy.services.usage.sqlite_store import SQLiteStore
from provider_proxy.services.usage.writer import UsageWriter
from tests.support.usage_data import record


class CountingStore:
    """A store that keeps batches in memory; optionally fails the first insert."""

    description = "memory"

    def __init__(self, fail_first: bool = False) -> None:
        self.batches: list[list[RequestRecord]] = []
        self._fail = fail_first

    async def open(self) -> None:
        pass

    async def insert(self, records: Sequence[RequestRecord]) -> None:
        await asyncio.sleep(0)
        if self._fail:
            self._fail = False
            raise OSError("disk full")
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


async def test_a_failing_store_loses_one_batch_and_the_writer_keeps_going(caplog: pytest.LogCaptureFixture) -> None:
    store = CountingStore(fail_first=True)
    writer = UsageWriter(store)
    await writer.start()
    writer.put(record(request_id="req_lost"))
    await writer.flush()
    writer.put(record(request_id="req_kept"))
    await writer.close()
    assert [r.request_id for batch in store.batches for r in batch] == ["req_kept"]
    assert "could not write 1 usage record(s)" in caplog.text


async def test_a_full_queue_drops_records_instead_of_blocking_the_request() -> None:
    writer = UsageWriter(CountingStore(), max_queued=2)
    for number in range(5):
        writer.put(record(request_id=f"req_{number}"))
    assert writer.dropped == 3
