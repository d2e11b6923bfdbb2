"""One usage record: what a request asked for, where it went, what it cost and how it ended."""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """A finished request. Times are epoch seconds (`ts`) and milliseconds (latencies)."""

    ts: float
    request_id: str
    key_name: str | None
    model: str | None
    route: str | None
    provider: str | None
    upstream_model: str | None
    stream: bool
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    ttft_ms: float | None
    latency_ms: float
    status: int
    error_type: str | None
    stop_reason: str | None
    retries: int

    def row(self) -> tuple[Any, ...]:
        """The values in `COLUMNS` order, with the time as integer milliseconds."""
        return (round(self.ts * 1000), *_OTHER_VALUES(self))

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> UsageRecord:
        ts_ms, request_id, key_name, model, route, provider, upstream_model, stream, *rest = row
        return cls(ts_ms / 1000, request_id, key_name, model, route, provider, upstream_model, bool(stream), *rest)


# Column names in the table, in `UsageRecord.row()` order (`ts` is stored as `ts_ms`).
COLUMNS: tuple[str, ...] = ("ts_ms", *(f.name for f in fields(UsageRecord)[1:]))
# Every field after `ts`, read in one call (dataclasses.astuple deep-copies each value).
_OTHER_VALUES = attrgetter(*COLUMNS[1:])
