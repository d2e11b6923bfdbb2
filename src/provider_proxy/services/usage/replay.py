"""Shipping journal files to the store, idempotently: a record already there is never written twice.

A replay runs after a crash (the journal of a process that is gone), and for this process's own
segments whose records did not fit in memory while the store was away. Either way some of the records
may already be in the store (committed before the crash, or shipped from memory), so each chunk asks
the store which of its request ids it has (by `ts_ms`, which is indexed in both databases) and inserts
only the others. PostgreSQL's unique request id index would absorb duplicates anyway; SQLite has no
such index (it costs the hot path), so this check is what keeps a replay exactly-once there.

A stream that started in a dead process's journal and never finished becomes an "interrupted" record:
what was known when it started (model, route, key, session, start time), `error_type` "interrupted",
the status the client had received (200), and as its latency the time from its start to the last
write of that journal (a lower bound: the process died at some point after it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

from provider_proxy.services.usage.journal import FINISHED, STARTED, Orphan, read_segment
from provider_proxy.services.usage.record import RequestRecord
from provider_proxy.services.usage.store import UsageStore

logger = logging.getLogger(__name__)

INTERRUPTED: Final = "interrupted"
_CHUNK: Final = 500


async def insert_missing(store: UsageStore, records: Sequence[RequestRecord]) -> int:
    """Insert the records the store does not have yet; the number inserted."""
    inserted = 0
    for start in range(0, len(records), _CHUNK):
        chunk = _unique(records[start : start + _CHUNK])
        times = sorted({round(record.ts * 1000) for record in chunk})
        marks = ", ".join("?" * len(times))
        rows = await store.select(f"SELECT request_id FROM usage_records WHERE ts_ms IN ({marks})", times)
        present = {row[0] for row in rows}
        missing = [record for record in chunk if record.request_id not in present]
        if missing:
            await store.insert(missing)
            inserted += len(missing)
    return inserted


def _unique(records: Iterable[RequestRecord]) -> list[RequestRecord]:
    return list({record.request_id: record for record in records}.values())


def finished_records(path: Path) -> list[RequestRecord]:
    return [record for kind, record in read_segment(path) if kind == FINISHED]


def interrupted_records(orphan: Orphan) -> list[RequestRecord]:
    """The streams that started in the orphan's journal and have no finished record in it."""
    started: dict[str, RequestRecord] = {}
    finished: set[str] = set()
    for path in orphan.segments:
        for kind, record in read_segment(path):
            if kind == STARTED:
                started[record.request_id] = record
            else:
                finished.add(record.request_id)
    last_write = orphan.last_write()
    return [as_interrupted(record, last_write) for key, record in started.items() if key not in finished]


def as_interrupted(started: RequestRecord, last_write: float) -> RequestRecord:
    return replace(
        started,
        error_type=INTERRUPTED,
        stop_reason=None,
        latency_ms=round(max(0.0, last_write - started.ts) * 1000, 1),
    )


async def replay_orphan(store: UsageStore, orphan: Orphan) -> tuple[int, int]:
    """Ship a dead process's journal and remove it: (records inserted, of which interrupted). On a
    store error the journal stays (what was shipped is skipped by the next attempt)."""
    interrupted = interrupted_records(orphan)
    inserted_interrupted = await insert_missing(store, interrupted)
    inserted = inserted_interrupted
    for path in orphan.segments:
        inserted += await insert_missing(store, finished_records(path))
        path.unlink(missing_ok=True)
    orphan.release()
    return inserted, inserted_interrupted
