"""The batching log writer: every record written, in order, in few writes; nothing pending after close."""

from __future__ import annotations

import io
import logging
import threading
import time

from provider_proxy.utils.log_writer import BatchWriter
from provider_proxy.utils.logging import RedactingFormatter


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


class Collecting(logging.Handler):
    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("provider_proxy.request", level, __file__, 1, message, None, None)


def _stream_handler(stream: io.StringIO) -> logging.StreamHandler[io.StringIO]:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def test_records_from_many_threads_are_all_written_in_order_in_a_few_writes() -> None:
    stream = CountingStream()
    writer = BatchWriter([_stream_handler(stream)], linger=0.01)

    def log(thread: int) -> None:
        for number in range(500):
            writer.handle(_record(f"t{thread} {number}"))

    threads = [threading.Thread(target=log, args=(thread,)) for thread in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2000
    for thread in range(4):
        assert [line for line in lines if line.startswith(f"t{thread} ")] == [f"t{thread} {n}" for n in range(500)]
    assert stream.writes < 100  # one write per batch, not one per line


def test_a_line_is_written_within_the_linger_time_without_close() -> None:
    stream = CountingStream()
    writer = BatchWriter([_stream_handler(stream)], linger=0.01)
    writer.handle(_record("soon"))
    deadline = time.monotonic() + 2
    while "soon" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert stream.getvalue() == "soon\n"
    writer.close()


def test_close_writes_what_is_pending_and_later_records_are_written_at_once() -> None:
    stream = CountingStream()
    writer = BatchWriter([_stream_handler(stream)], linger=30)
    for number in range(3):
        writer.handle(_record(f"pending {number}"))
    started = time.monotonic()
    writer.close()
    assert time.monotonic() - started < 5  # the linger is cut short
    assert stream.getvalue() == "pending 0\npending 1\npending 2\n"
    writer.handle(_record("after close"))
    assert stream.getvalue().endswith("after close\n")


def test_each_handler_gets_the_records_at_or_above_its_level_and_its_formatter_redacts() -> None:
    stream = CountingStream()
    redacting = logging.StreamHandler(stream)
    redacting.setFormatter(RedactingFormatter("%(levelname)s %(message)s", secrets=("sk-secret-key-123456",)))
    redacting.setLevel(logging.WARNING)
    collecting = Collecting()
    writer = BatchWriter([redacting, collecting], linger=0.01)
    writer.handle(_record("debug detail", logging.DEBUG))
    writer.handle(_record("upstream refused sk-secret-key-123456", logging.WARNING))
    writer.close()
    assert stream.getvalue() == "WARNING upstream refused sk-s***\n"
    assert [record.getMessage() for record in collecting.records] == [
        "debug detail",
        "upstream refused sk-secret-key-123456",
    ]


def test_a_record_that_cannot_be_formatted_does_not_lose_the_others() -> None:
    stream = CountingStream()
    writer = BatchWriter([_stream_handler(stream)], linger=0.01)
    broken = logging.LogRecord("x", logging.INFO, __file__, 1, "%d apples", ("many",), None)
    previous, logging.raiseExceptions = logging.raiseExceptions, False
    try:
        writer.handle(_record("before"))
        writer.handle(broken)
        writer.handle(_record("after"))
        writer.close()
    finally:
        logging.raiseExceptions = previous
    assert stream.getvalue() == "before\nafter\n"
