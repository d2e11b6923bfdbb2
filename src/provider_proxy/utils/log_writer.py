"""Log records leave the request path in batches: the root logger's one handler while serving.

A request writes one log line. Handing each record to a writer thread through a queue wakes that thread
once per record (a futex call, a thread switch and the GIL passed back and forth on the proxy's core),
and the stream handler then writes and flushes each line with its own system call. Here a record is
appended to a deque (no lock, no system call); the writer thread is woken by the first record of a
batch only, waits `LINGER` seconds for more to gather, then formats them (redaction included) and
writes each stream's lines in one write.

A line reaches the log at most ~`LINGER` later than with a synchronous handler. `close()` (registered
to run at exit) writes what is pending; from then on records are handled at once, in the caller's
thread. A process killed outright loses the last ~`LINGER` of lines (never usage records: those have
their own journal).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Sequence
from typing import Final, TextIO

# Seconds the writer waits after a wake-up, for the lines of other requests to join the batch.
LINGER: Final = 0.02
# A wake-up lost to a race (a record appended as the writer empties the deque) is late by this much at most.
_IDLE_WAIT: Final = 1.0


class BatchWriter(logging.Handler):
    def __init__(self, handlers: Sequence[logging.Handler], linger: float = LINGER) -> None:
        super().__init__()
        self.handlers = tuple(handlers)
        self.linger = linger
        self._pending: collections.deque[logging.LogRecord] = collections.deque()
        self._wake = threading.Event()
        self._stopping = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def handle(self, record: logging.LogRecord) -> bool:
        """Called by the logger for each record (instead of `emit`: no handler lock is needed for an append)."""
        if self._closed:
            self._write([record])
            return True
        pending = self._pending
        pending.append(record)
        if len(pending) == 1:
            self._wake.set()
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)

    def close(self) -> None:
        """Write what is pending and stop the writer thread; later records are written at once."""
        if not self._closed:
            self._stopping = True
            self._wake.set()
            self._thread.join(timeout=5)
            self._closed = True
            self._write(self._take())
        super().close()

    def _run(self) -> None:
        while True:
            self._wake.wait(_IDLE_WAIT)
            if not self._stopping:
                time.sleep(self.linger)
            self._wake.clear()
            self._write(self._take())
            if self._stopping:
                return

    def _take(self) -> list[logging.LogRecord]:
        pending, records = self._pending, []
        while pending:
            records.append(pending.popleft())
        return records

    def _write(self, records: list[logging.LogRecord]) -> None:
        if not records:
            return
        for handler in self.handlers:
            if type(handler) is logging.StreamHandler:
                wanted = [record for record in records if record.levelno >= handler.level and handler.filter(record)]
                if wanted:
                    _write_lines(handler, wanted)
                continue
            for record in records:
                if record.levelno >= handler.level:
                    handler.handle(record)  # filters, locks, emits


def _write_lines(handler: logging.StreamHandler[TextIO], records: list[logging.LogRecord]) -> None:
    """A stream handler's lines in one write and one flush (its `emit` flushes after every line)."""
    lines = []
    for record in records:
        try:
            lines.append(handler.format(record) + handler.terminator)
        except Exception:
            handler.handleError(record)
    handler.acquire()
    try:
        handler.stream.write("".join(lines))
        handler.flush()
    except Exception:
        handler.handleError(records[-1])
    finally:
        handler.release()
