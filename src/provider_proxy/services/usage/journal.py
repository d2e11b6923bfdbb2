"""The usage journal: every record on local disk before it reaches the store, so a crash loses none.

Each process writes its own journal under `DATA_DIR/usage-journal/`: a lock file `<id>.lock`, held
with `flock` for the life of the process (the kernel lets go of it when the process dies, SIGKILL
included), and segments `<id>.<n>.jsonl`, appended to and rotated every `segment_entries` entries or
`segment_seconds`. A segment's first line names its columns; every other line is one entry,
`["f", row]` for a finished request's record or `["s", row]` for a stream that has started. A segment
is deleted once every record in it is committed to the store and every stream it saw start has
finished; the starts of streams still running are written again into the next segment, so old
segments do not stay behind for a long stream.

Writes go to the page cache at once (`os.write`, which a killed process cannot undo); `sync` (fdatasync)
runs in a thread at most every `fsync_seconds`, which bounds what a machine crash or power loss can
take. A journal whose lock is free belongs to a process that is gone: `orphans` hands it to a replay
(`services.usage.replay`), which ships it and removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import orjson

from provider_proxy.services.usage.record import COLUMNS, RequestRecord

logger = logging.getLogger(__name__)

JOURNAL_DIR: Final = "usage-journal"
STARTED: Final = "s"
FINISHED: Final = "f"
Kind = Literal["s", "f"]
_FORMAT: Final = 1
_HEADER: Final = orjson.dumps({"journal": _FORMAT, "columns": COLUMNS}) + b"\n"
_SEGMENT_GLOB: Final = "*.jsonl"


@dataclass(eq=False, slots=True)
class Segment:
    """One file of the journal and what it still holds back from deletion."""

    path: Path
    fd: int
    created: float = field(default_factory=time.monotonic)
    entries: int = 0
    # Finished records written to the file, shipped from memory and not yet committed.
    unshipped: int = 0
    # Finished records only in the file (memory was full): the file itself must be replayed.
    spilled: int = 0
    # Streams that started here and have not finished.
    open_starts: int = 0
    closed: bool = False

    @property
    def done(self) -> bool:
        return self.closed and not (self.unshipped or self.spilled or self.open_starts)


class Journal:
    """This process's journal. Not thread-safe but for `sync`, which may run in another thread."""

    def __init__(
        self,
        directory: Path,
        *,
        fsync_seconds: float = 1.0,
        segment_entries: int = 20_000,
        segment_seconds: float = 60.0,
    ) -> None:
        self.directory = directory
        self.fsync_seconds = fsync_seconds
        self._segment_entries = segment_entries
        self._segment_seconds = segment_seconds
        self.journal_id = ""  # set by `open`, in the process that writes (a worker forked after __init__)
        self._lock_fd: int | None = None
        self._current: Segment | None = None
        self._segments: list[Segment] = []
        self._number = 0
        # (segment, records) runs in the order the records were handed to the store shipper.
        self._runs: deque[list[Segment | int]] = deque()
        # Streams in flight: request id -> the segment holding its latest start entry, and the record.
        self._open: dict[str, tuple[Segment, RequestRecord]] = {}
        self._sync_lock = threading.Lock()
        self._dirty = False  # the current segment was written since the last sync
        self._to_close: list[int] = []  # fds of rotated segments: synced and closed by the next sync
        self._dir_dirty = False
        self._last_sync = time.monotonic()

    @property
    def is_open(self) -> bool:
        return self._lock_fd is not None

    @property
    def lock_path(self) -> Path:
        return self.directory / f"{self.journal_id}.lock"

    def open(self) -> None:
        """Create the directory and take this process's lock (under a temporary name first, so that no
        other process sees the lock file before it is held)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.journal_id = f"{int(time.time() * 1000):013d}-{os.getpid()}-{random.getrandbits(32):08x}"
        temporary = self.directory / f".{self.journal_id}.lock.tmp"
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        temporary.rename(self.lock_path)
        self._lock_fd = fd

    def write(self, entries: Sequence[tuple[Kind, RequestRecord]], *, spill: bool = False) -> None:
        """Append entries in one write. Finished records count as shipped from memory unless `spill`:
        then the segment is replayed from its file once closed."""
        segment = self._segment_for_write()
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        self._append(segment, b"".join([dumps((kind, record.row()), option=newline) for kind, record in entries]))
        finished = len(entries)
        if self._open or self._has_started(entries):
            finished = self._track_streams(segment, entries)
        segment.entries += len(entries)
        if spill:
            segment.spilled += finished
        elif finished:
            segment.unshipped += finished
            self._runs.append([segment, finished])

    @staticmethod
    def _has_started(entries: Sequence[tuple[Kind, RequestRecord]]) -> bool:
        return any(kind == STARTED for kind, _ in entries)

    def _track_streams(self, segment: Segment, entries: Sequence[tuple[Kind, RequestRecord]]) -> int:
        """Note the streams that start and end; the number of finished records."""
        finished = 0
        for kind, record in entries:
            if kind == STARTED:
                self._open[record.request_id] = (segment, record)
                segment.open_starts += 1
                continue
            finished += 1
            started = self._open.pop(record.request_id, None)
            if started is not None:
                started[0].open_starts -= 1
        return finished

    def shipped(self, count: int) -> None:
        """The oldest `count` records handed over unspilled are committed to the store."""
        while count and self._runs:
            run = self._runs[0]
            segment, pending = run
            assert isinstance(segment, Segment) and isinstance(pending, int)
            taken = min(count, pending)
            segment.unshipped -= taken
            count -= taken
            if taken == pending:
                self._runs.popleft()
            else:
                run[1] = pending - taken
        self._delete_done()

    def has_spilled(self) -> bool:
        return any(segment.spilled for segment in self._segments)

    def take_spilled(self) -> list[Segment]:
        """The segments whose records must be shipped from the file (closing the current one if it
        is among them: call this once the records handed over in memory are all committed)."""
        if self._current is not None and self._current.spilled:
            self._rotate()
        return [segment for segment in self._segments if segment.closed and segment.spilled]

    def replayed(self, segment: Segment) -> None:
        """Every finished record of a spilled segment is in the store."""
        segment.spilled = 0
        segment.unshipped = 0
        self._delete_done()

    def unshipped(self) -> int:
        return sum(segment.unshipped + segment.spilled for segment in self._segments)

    def tick(self) -> None:
        """Close an old current segment (carrying its open starts into a new one) and delete what is done."""
        current = self._current
        if current is not None and time.monotonic() - current.created >= self._segment_seconds:
            self._rotate()
        self._delete_done()

    def sync_due(self) -> bool:
        return (self._dirty or bool(self._to_close)) and time.monotonic() - self._last_sync >= self.fsync_seconds

    def sync(self) -> None:
        """fdatasync what was written since the last sync, close rotated files; blocking (run it in a thread)."""
        with self._sync_lock:
            segment = self._current  # read once: the event loop's thread may rotate it meanwhile
            current = segment.fd if segment is not None and self._dirty else None
            to_close, self._to_close = self._to_close, []
            dir_dirty, self._dir_dirty = self._dir_dirty, False
            self._dirty = False
            self._last_sync = time.monotonic()
        # Rotation hands a file over to `_to_close` and never closes it: `current` stays open here.
        for fd in [*to_close, *([current] if current is not None else [])]:
            os.fdatasync(fd)
        for fd in to_close:
            os.close(fd)
        if dir_dirty:
            _sync_directory(self.directory)

    def close(self) -> int:
        """Sync and close every file; delete what is done; release the lock. The records still in the
        journal (returned) are shipped by the next process that starts on this directory."""
        if self._current is not None:
            self._close_current()
        self._delete_done()
        self.sync()
        left = self.unshipped()
        if not self._segments:
            self.lock_path.unlink(missing_ok=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        return left

    def orphans(self) -> list[Orphan]:
        """The journals of processes that are gone, each locked for this process until released."""
        found = []
        for lock_path in sorted(self.directory.glob("*.lock")):
            if lock_path == self.lock_path:
                continue
            orphan = Orphan.claim(lock_path)
            if orphan is not None:
                found.append(orphan)
        return found

    def _segment_for_write(self) -> Segment:
        current = self._current
        if current is not None:
            too_old = time.monotonic() - current.created >= self._segment_seconds
            if current.entries >= self._segment_entries or too_old:
                self._rotate()
        return self._current or self._new_segment()

    def _new_segment(self) -> Segment:
        self._number += 1
        path = self.directory / f"{self.journal_id}.{self._number:06d}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        segment = Segment(path, fd)
        self._segments.append(segment)
        self._current = segment
        with self._sync_lock:
            self._dir_dirty = True
        self._append(segment, _HEADER)
        return segment

    def _rotate(self) -> None:
        """Close the current segment; the starts of streams still running go into a new one."""
        self._close_current()
        if not self._open:
            return  # the next write opens the next segment
        carried: list[tuple[Kind, RequestRecord]] = [(STARTED, record) for _, record in self._open.values()]
        for segment, _ in self._open.values():
            segment.open_starts -= 1
        self._open.clear()
        self._new_segment()
        self.write(carried)

    def _close_current(self) -> None:
        current = self._current
        if current is None:
            return
        current.closed = True
        self._current = None
        with self._sync_lock:
            self._to_close.append(current.fd)

    def _append(self, segment: Segment, data: bytes) -> None:
        written = os.write(segment.fd, data)
        if written < len(data):  # rare for a file (a signal, a full disk): write the rest
            view = memoryview(data)[written:]
            while view:
                view = view[os.write(segment.fd, view) :]
        self._dirty = True

    def _delete_done(self) -> None:
        done = [segment for segment in self._segments if segment.done]
        for segment in done:
            segment.path.unlink(missing_ok=True)
            self._segments.remove(segment)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(slots=True)
class Orphan:
    """The journal of a process that is gone, held (its lock taken) by this process."""

    lock_path: Path
    lock_fd: int
    segments: list[Path]

    @classmethod
    def claim(cls, lock_path: Path) -> Orphan | None:
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:  # released by its owner or claimed and finished by another process
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its process is alive, or another one is replaying it
            os.close(fd)
            return None
        journal_id = lock_path.name.removesuffix(".lock")
        segments = sorted(lock_path.parent.glob(f"{journal_id}.{_SEGMENT_GLOB}"))
        return cls(lock_path, fd, segments)

    def last_write(self) -> float:
        """Epoch seconds of the newest segment's last write: the last sign of life of its process."""
        times = [path.stat().st_mtime for path in self.segments if path.exists()]
        return max(times, default=time.time())

    def release(self) -> None:
        """Everything is shipped: remove the journal."""
        for path in self.segments:
            path.unlink(missing_ok=True)
        self.lock_path.unlink(missing_ok=True)
        os.close(self.lock_fd)

    def let_go(self) -> None:
        """Stop holding it without removing it (another process, or a later attempt, ships it)."""
        os.close(self.lock_fd)


def read_segment(path: Path) -> Iterator[tuple[Kind, RequestRecord]]:
    """The entries of a segment file; a torn or unreadable line (a crash mid-write) is skipped."""
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return
    if not lines:
        return
    try:
        columns = orjson.loads(lines[0])["columns"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        logger.warning("usage journal %s has no header; skipped", path)
        return
    for number, line in enumerate(lines[1:], start=2):
        entry = _entry(columns, line)
        if entry is None:
            logger.warning("usage journal %s: line %d is unreadable (a crash mid-write?); skipped", path, number)
            continue
        yield entry


_FIELDS: Final = frozenset(COLUMNS[1:])


def _entry(columns: Sequence[str], line: bytes) -> tuple[Kind, RequestRecord] | None:
    try:
        kind, row = orjson.loads(line)
        values = dict(zip(columns, row, strict=True))
        ts_ms = values.pop("ts_ms")
        record = RequestRecord(ts=ts_ms / 1000, **{name: value for name, value in values.items() if name in _FIELDS})
    except (orjson.JSONDecodeError, ValueError, TypeError, KeyError):
        return None
    if kind not in (STARTED, FINISHED):
        return None
    return kind, record


@dataclass(frozen=True, slots=True)
class SegmentState:
    """A segment as `provider-proxy check` sees it from outside."""

    path: Path
    age: float  # seconds since its last write
    entries: int
    owner_alive: bool  # its process holds the journal's lock


def inspect(directory: Path) -> list[SegmentState]:
    """Every segment under `directory`: how old, how many entries, whether its process is running."""
    now = time.time()
    alive: dict[str, bool] = {}
    found = []
    for path in sorted(directory.glob(_SEGMENT_GLOB)):
        journal_id = path.name.split(".", 1)[0]
        if journal_id not in alive:
            alive[journal_id] = lock_is_held(directory / f"{journal_id}.lock")
        with contextlib.suppress(FileNotFoundError):  # shipped meanwhile
            age = now - path.stat().st_mtime
            entries = max(path.read_bytes().count(b"\n") - 1, 0)
            found.append(SegmentState(path, age, entries, alive[journal_id]))
    return found


def lock_is_held(lock_path: Path) -> bool:
    """Whether a running process holds this journal lock (taken and let go at once when it is free)."""
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
