"""An upstream answer as it arrives: status and headers, then a body read whole or as it comes, within limits."""

from __future__ import annotations

import asyncio
import zlib
from typing import Final, Protocol

from provider_proxy.services.http1.errors import BodyTooLarge, DeadlineExceeded, HttpError


class Source(Protocol):
    """The connection an answer is read from (`connection.Connection`), as the answer uses it."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def close(self) -> None: ...


# Above this much unread stream data the connection stops reading until the consumer catches up.
HIGH_WATER: Final = 1 << 20
# At most this much decompressed output per zlib call.
_INFLATE_STEP: Final = 1 << 20


def _wake(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)


class Response:
    """An upstream answer: status and headers first, then the body, whole (`read`) or as it comes (`readany`).

    The connection goes back to the pool as soon as the body is complete on the wire; `close`
    drops it when the body was not read to the end, so a half-read answer never reaches the pool.
    A compressed body is inflated only as far as the reader has room (`HIGH_WATER` unread bytes for a
    stream, `max_body_bytes` for a whole read); the rest waits compressed in `_tail` and the connection
    stops reading meanwhile.
    """

    __slots__ = (
        "_check_at",
        "_chunks",
        "_conn",
        "_decoder",
        "_ended",
        "_error",
        "_loop",
        "_max_body",
        "_received",
        "_tail",
        "_taken",
        "_waiter",
        "_whole",
        "complete",
        "deadline",
        "headers",
        "status",
    )

    def __init__(
        self,
        conn: Source,
        loop: asyncio.AbstractEventLoop,
        max_body: int,
        whole: bool = False,
        deadline: float | None = None,
    ) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.complete = False
        # The request's deadline (a loop.time()); `read` keeps to it, `readany` only when given one.
        self.deadline = deadline
        self._conn: Source | None = conn
        self._loop = loop
        self._chunks: list[bytes] = []
        self._received = 0  # body bytes so far, after decompression
        self._taken = 0  # of which the reader took so many; the rest waits in _chunks
        self._max_body = max_body
        self._whole = whole  # someone waits for the entire body: no flow control below max_body
        # `_feed` looks at the limits only once `_received` passes this: the cap, or the stream buffer's end.
        self._check_at = max_body if whole or max_body < HIGH_WATER else HIGH_WATER
        self._decoder: zlib._Decompress | None = None
        self._tail = b""  # compressed bytes not inflated yet
        self._ended = False  # the body is complete on the wire (maybe not inflated yet)
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[bool] | None = None

    @property
    def at_eof(self) -> bool:
        return self.complete and not self._chunks

    @property
    def _unread(self) -> int:
        return self._received - self._taken

    # -- fed by the connection; a raised HttpError ends the connection and becomes this answer's error --

    def _start(self, status: int, headers: dict[str, str]) -> None:
        self.status, self.headers = status, headers
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj()
        elif encoding not in ("identity", ""):
            raise HttpError(f"the upstream answered with an unsupported Content-Encoding: {encoding}")
        else:
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > self._max_body:
                raise BodyTooLarge(self._max_body, decoded=False)
        self._notify()

    def _feed(self, data: bytes) -> None:
        if self._decoder is not None:
            self._tail = self._tail + data if self._tail else data
            self._inflate()
            return
        self._received += len(data)
        if self._received > self._check_at:
            if self._received > self._max_body:
                raise BodyTooLarge(self._max_body, decoded=False)
            if self._conn is not None:  # more unread than the stream buffer holds: stop reading for now
                self._conn.pause()
        self._chunks.append(data)
        self._notify()

    def _inflate(self) -> None:
        """Decompress what waits in `_tail`, as far as there is room; pauses the connection when there is none."""
        decoder = self._decoder
        assert decoder is not None
        while self._tail:
            room = self._max_body + 1 - self._received if self._whole else HIGH_WATER - self._unread
            if room <= 0:
                if self._conn is not None:
                    self._conn.pause()
                break
            tail = self._tail
            try:
                data = decoder.decompress(tail, min(room, _INFLATE_STEP))
            except zlib.error as exc:
                raise HttpError(f"the upstream sent a body that does not decompress: {exc}") from None
            self._tail = decoder.unconsumed_tail
            if data:
                self._add(data)
            elif len(self._tail) == len(tail):  # zlib consumed nothing and gave nothing: never spin on it
                raise HttpError("the upstream sent a body that does not decompress: no progress")
        if self._ended and not self._tail:
            self._finish()
        self._notify()

    def _add(self, data: bytes) -> None:
        self._received += len(data)
        if self._received > self._max_body:
            raise BodyTooLarge(self._max_body, decoded=True)
        self._chunks.append(data)

    def _finish(self) -> None:
        if self._decoder is not None:
            try:
                rest = self._decoder.flush()
            except zlib.error as exc:
                raise HttpError(f"the upstream sent a body that does not decompress: {exc}") from None
            self._decoder = None
            if rest:
                self._add(rest)
        self.complete = True

    def _end(self) -> None:
        """The body is complete on the wire; never raises (a limit found now becomes the answer's error)."""
        self._ended = True
        self._conn = None
        if not self._tail:
            try:
                self._finish()
            except HttpError as exc:
                self._fail(exc)
        self._notify()

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self._conn = None
        self._notify()

    def _notify(self) -> None:
        if self._waiter is not None:
            _wake(self._waiter, True)

    # -- read by the caller --

    def _pull(self) -> None:
        """Inflate more of `_tail` for a reader; a failure closes the connection and is raised on the next read."""
        try:
            self._inflate()
        except HttpError as exc:
            conn = self._conn
            self._fail(exc)
            self._tail = b""
            if conn is not None:
                conn.close()

    async def _wait(self, timeout: float) -> bool:
        """Until the connection reports something, or False after `timeout` seconds of nothing."""
        waiter: asyncio.Future[bool] = self._loop.create_future()
        self._waiter = waiter
        timer = self._loop.call_later(timeout, _wake, waiter, False)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None

    async def _wait_until(self, timeout: float, deadline: float) -> bool:
        """`_wait`, and DeadlineExceeded when `deadline` (a loop.time()) comes before something or `timeout`."""
        left = deadline - self._loop.time()
        if left > timeout:
            return await self._wait(timeout)
        if left <= 0 or not await self._wait(left):
            raise DeadlineExceeded(self._stage())
        return True

    def _stage(self) -> str:
        return "before the upstream's answer was complete" if self.status else "before the upstream answered"

    async def read(self, timeout: float = 600.0, deadline: float | None = None) -> bytes:
        """The whole (remaining) body; TimeoutError when nothing arrives for `timeout` seconds.

        `deadline` (a loop.time(); default the request's) bounds the whole read: DeadlineExceeded after it.
        """
        self._whole = True
        self._check_at = self._max_body
        await self._arrival(timeout, whole=True, deadline=self.deadline if deadline is None else deadline)
        return self._take()

    async def _arrival(self, timeout: float, *, whole: bool, deadline: float | None) -> None:
        """Until the headers (or, with `whole`, the entire body) arrived; TimeoutError after `timeout` of silence."""
        while not (self.complete if whole else self.status):
            if self._error is not None:
                raise self._error
            if self._tail:
                self._pull()
                continue
            if self._conn is not None:
                self._conn.resume()
            try:
                arrived = await (self._wait(timeout) if deadline is None else self._wait_until(timeout, deadline))
            except DeadlineExceeded:
                self.close()
                raise
            if not arrived:
                self.close()
                raise TimeoutError

    async def readany(self, timeout: float, deadline: float | None = None) -> bytes | None:
        """The next body bytes; b"" at the end; None when nothing came for `timeout` seconds.

        With `deadline` (a loop.time(), e.g. `self.deadline`), DeadlineExceeded once it has passed.
        """
        while not self._chunks and not self.complete:
            if self._error is not None:
                raise self._error
            if self._tail:
                self._pull()
                continue
            if self._conn is not None:
                self._conn.resume()
            if not await (self._wait(timeout) if deadline is None else self._wait_until(timeout, deadline)):
                return None
        return self._take()

    def _take(self) -> bytes:
        chunks = self._chunks
        if not chunks:
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        taken = self._taken = self._received
        if not self._whole:
            buffer_end = taken + HIGH_WATER
            self._check_at = buffer_end if buffer_end < self._max_body else self._max_body
        return data

    def close(self) -> None:
        """Done with this answer: a connection still reading an unfinished body is closed, not reused."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
