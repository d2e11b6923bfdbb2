"""The usage journal: records on disk before the store has them, segments removed once committed,
the starts of long streams carried forward, records past the memory bound shipped from the file, and
the journals of dead processes (never of live ones) shipped with their interrupted streams."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from provider_proxy.services.usage.journal import FINISHED, STARTED, Journal, read_segment
from provider_proxy.services.usage.record import RequestRecord
from provider_proxy.services.usage.sqlite_store import SQLiteStore
from provider_proxy.services.usage.writer import UsageWriter
from tests.support.usage_data import record


class SwitchableStore(SQLiteStore):
    """SQLite that refuses inserts while `down`."""

    down = False

    async def insert(self, records: Sequence[RequestRecord]) -> None:
        if self.down:
            raise OSError("the database is away")
        await super().insert(records)


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


def entries(directory: Path) -> list[tuple[str, str]]:
    return [(kind, entry.request_id) for path in segments(directory) for kind, entry in read_segment(path)]


def die(journal: Journal) -> None:
    """What the kernel does for a killed process: its lock goes, its files stay."""
    assert journal._lock_fd is not None
    os.close(journal._lock_fd)
    journal._lock_fd = None


async def stored(store: SQLiteStore) -> list[tuple[Any, ...]]:
    return await store.select("SELECT request_id, error_type, status FROM usage_records ORDER BY request_id")


async def test_records_reach_the_journal_while_the_store_is_away(tmp_path: Path) -> None:
    store = SwitchableStore(tmp_path / "usage.db")
    store.down = True
    writer = UsageWriter(store, Journal(tmp_path / "journal"), max_backoff=0.05, close_timeout=0.2)
    await writer.start()
    for number in range(3):
        writer.put(record(request_id=f"req_{number}"))
    await asyncio.sleep(0.05)
    assert entries(tmp_path / "journal") == [(FINISHED, f"req_{number}") for number in range(3)]
    await writer.close()
    assert (writer.lost, writer.left_in_journal) == (0, 3)
    assert len(segments(tmp_path / "journal")) == 1


async def test_committed_segments_are_removed(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "usage.db")
    writer = UsageWriter(store, Journal(tmp_path / "journal", segment_entries=2), batch_size=1)
    await writer.start()
    for number in range(7):
        writer.put(record(request_id=f"req_{number}"))
        await writer.flush()
    # Only the segment being written remains (the others were committed and closed).
    assert len(segments(tmp_path / "journal")) == 1
    await writer.close()
    assert segments(tmp_path / "journal") == []
    assert list((tmp_path / "journal").iterdir()) == []


async def test_a_long_stream_start_moves_forward_and_old_segments_go(tmp_path: Path) -> None:
    journal_dir = tmp_path / "journal"
    writer = UsageWriter(SQLiteStore(tmp_path / "usage.db"), Journal(journal_dir, segment_entries=3), batch_size=1)
    await writer.start()
    writer.started(record(request_id="req_long", stream=True))
    for number in range(8):
        writer.put(record(request_id=f"req_{number}"))
        await writer.flush()
    assert len(segments(journal_dir)) == 1
    assert (STARTED, "req_long") in entries(journal_dir)
    assert writer.journal is not None
    die(writer.journal)

    replica = UsageWriter(SQLiteStore(tmp_path / "usage.db"), Journal(journal_dir))
    await replica.start()
    await asyncio.sleep(0.3)
    rows = await stored(replica.store)  # type: ignore[arg-type]
    assert ("req_long", "interrupted", 200) in rows
    assert len(rows) == 9
    await replica.close()


async def test_past_the_memory_bound_records_wait_in_the_journal_and_are_stored_once(tmp_path: Path) -> None:
    store = SwitchableStore(tmp_path / "usage.db")
    store.down = True
    writer = UsageWriter(store, Journal(tmp_path / "journal"), max_queued=5, batch_size=2, max_backoff=0.05)
    await writer.start()
    for number in range(30):
        writer.put(record(request_id=f"req_{number:02d}"))
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    assert writer.dropped == 0
    assert writer.backlog() == 30
    store.down = False
    await writer.flush()
    assert [row[0] for row in await stored(store)] == [f"req_{number:02d}" for number in range(30)]
    assert writer.backlog() == 0
    await writer.close()


async def test_a_live_process_journal_is_left_alone_and_a_dead_one_is_shipped(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    alive, gone, finder = Journal(directory), Journal(directory), Journal(directory)
    for journal in (alive, gone, finder):
        journal.open()
    alive.write([(FINISHED, record(request_id="req_alive"))])
    gone.write([(FINISHED, record(request_id="req_gone"))])
    die(gone)
    orphans = finder.orphans()
    assert [orphan.lock_path for orphan in orphans] == [gone.lock_path]
    assert finder.orphans() == []  # held by the finder until released
    orphans[0].let_go()
    alive.close()
    finder.close()


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    journal.write([(FINISHED, record(request_id="req_whole")), (STARTED, record(request_id="req_stream"))])
    path = segments(tmp_path)[0]
    with path.open("ab") as file:
        file.write(b'["f",[1780000000000,"req_torn",nu')
    assert [(kind, entry.request_id) for kind, entry in read_segment(path)] == [
        (FINISHED, "req_whole"),
        (STARTED, "req_stream"),
    ]
    journal.close()


def test_a_journal_line_reads_back_as_the_record_that_was_written(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    original = record(request_id="req_full", attempts="a/b: api_error (500)", session_id="session-1", ttft_ms=12.5)
    journal.write([(FINISHED, original)])
    [(kind, read)] = list(read_segment(segments(tmp_path)[0]))
    assert kind == FINISHED
    assert read.row() == original.row()
    journal.close()


async def test_a_journal_that_cannot_be_opened_leaves_records_going_to_the_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "not-a-directory").write_text("")
    store = SQLiteStore(tmp_path / "usage.db")
    writer = UsageWriter(store, Journal(tmp_path / "not-a-directory" / "usage-journal"))
    await writer.start()
    writer.put(record(request_id="req_kept"))
    await writer.flush()
    assert [row[0] for row in await stored(store)] == ["req_kept"]
    await writer.close()
    assert "cannot open the usage journal" in caplog.text


async def test_a_running_replica_ships_the_journal_of_one_that_died_beside_it(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    survivor = UsageWriter(SQLiteStore(tmp_path / "usage.db"), Journal(directory), orphan_seconds=0.1)
    await survivor.start()
    died = Journal(directory)
    died.open()
    died.write([(FINISHED, record(request_id="req_done")), (STARTED, record(request_id="req_cut", stream=True))])
    die(died)
    for _ in range(100):
        if not segments(directory):
            break
        await asyncio.sleep(0.05)
    assert await stored(survivor.store) == [("req_cut", "interrupted", 200), ("req_done", None, 200)]  # type: ignore[arg-type]
    await survivor.close()
