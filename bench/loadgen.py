"""A small HTTP/1.1 load client on raw asyncio sockets: keep-alive, content-length and chunked bodies.

It records, per request, the time to the first response byte and to the end of the body. Every
loop is bounded by a request count and a deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop when it is installed (the client must not be the bottleneck)."""
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


@dataclass(frozen=True, slots=True)
class Target:
    """One endpoint with the request to send it."""

    name: str
    port: int
    path: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    host: str = "127.0.0.1"

    def request(self) -> bytes:
        lines = [f"POST {self.path} HTTP/1.1", f"host: {self.host}:{self.port}", "content-type: application/json"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        lines.append(f"content-length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass(slots=True)
class Sample:
    status: int
    ttfb: float  # seconds from the request's last byte written to the first response byte
    total: float  # seconds to the end of the response body
    size: int


@dataclass(slots=True)
class Result:
    samples: list[Sample] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    last_body: bytes = b""

    @property
    def ok(self) -> int:
        return sum(1 for s in self.samples if s.status == 200)

    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0


class _Response(asyncio.Protocol):
    """One keep-alive connection; `send` returns when the whole response has arrived."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[None] | None = None
        self._first = 0.0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self._first:
            self._first = time.perf_counter()
        self._buffer += data
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection closed"))

    async def _more(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        if self.closed:
            raise ConnectionError("connection closed")
        await self._waiter

    async def send(self, request: bytes, keep_body: bool = False) -> tuple[Sample, bytes]:
        assert self.transport is not None
        self._first = 0.0
        self.transport.write(request)
        start = time.perf_counter()
        buf = self._buffer
        while (end := buf.find(b"\r\n\r\n")) < 0:
            await self._more()
        head = bytes(buf[:end]).lower()
        status = int(head[9:12])
        pos = end + 4
        body_parts: list[bytes] = []
        size = 0
        marker = head.find(b"content-length:")
        if marker >= 0:
            eol = head.find(b"\r\n", marker)
            length = int(head[marker + 15 : eol if eol >= 0 else len(head)])
            while len(buf) < pos + length:
                await self._more()
            size = length
            if keep_body:
                body_parts.append(bytes(buf[pos : pos + length]))
            del buf[: pos + length]
        elif b"transfer-encoding: chunked" in head:
            while True:
                while (eol := buf.find(b"\r\n", pos)) < 0:
                    await self._more()
                chunk = int(bytes(buf[pos:eol]).split(b";")[0], 16)
                while len(buf) < eol + 2 + chunk + 2:
                    await self._more()
                if keep_body:
                    body_parts.append(bytes(buf[eol + 2 : eol + 2 + chunk]))
                size += chunk
                pos = eol + 2 + chunk + 2
                if chunk == 0:
                    break
                del buf[:pos]
                pos = 0
            del buf[:pos]
        else:
            raise ConnectionError("response without a length")
        done = time.perf_counter()
        return Sample(status, (self._first or done) - start, done - start, size), b"".join(body_parts)


async def connect(target: Target) -> _Response:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(_Response, target.host, target.port)
    return protocol


async def _worker(
    target: Target, result: Result, count: list[int], deadline: float, warmup_until: float, keep_body: bool
) -> None:
    request = target.request()
    conn: _Response | None = None
    while count[0] > 0 and time.perf_counter() < deadline:
        count[0] -= 1
        try:
            if conn is None or conn.closed:
                conn = await connect(target)
            async with asyncio.timeout(max(deadline - time.perf_counter(), 1)):
                sample, body = await conn.send(request, keep_body)
        except (OSError, ConnectionError, TimeoutError, ValueError):
            result.errors += 1
            if conn is not None and conn.transport is not None:
                conn.transport.close()
            conn = None
            continue
        if time.perf_counter() >= warmup_until:
            result.samples.append(sample)
            if keep_body:
                result.last_body = body
    if conn is not None and conn.transport is not None:
        conn.transport.close()


async def load(
    target: Target,
    *,
    concurrency: int,
    requests: int,
    seconds: float,
    warmup: float = 0.0,
    keep_body: bool = False,
) -> Result:
    """`concurrency` connections send `target` until `requests` are done or `seconds` have passed."""
    result = Result()
    count = [requests]
    start = time.perf_counter()
    deadline = start + seconds + warmup
    workers = [_worker(target, result, count, deadline, start + warmup, keep_body) for _ in range(concurrency)]
    await asyncio.gather(*workers)
    result.elapsed = time.perf_counter() - max(start + warmup, start)
    if result.samples and warmup:
        result.elapsed = time.perf_counter() - (start + warmup)
    return result


async def paired(targets: list[Target], *, requests: int, seconds: float, warmup: int = 20) -> dict[str, Result]:
    """Sequential requests (concurrency 1) to each target in turn, rotating the order every round, so
    that drift on a noisy machine hits every target alike."""
    conns = {t.name: await connect(t) for t in targets}
    results = {t.name: Result() for t in targets}
    reqs = {t.name: t.request() for t in targets}
    deadline = time.perf_counter() + seconds
    for round_ in range(requests + warmup):
        if time.perf_counter() > deadline:
            break
        order = targets[round_ % len(targets) :] + targets[: round_ % len(targets)]
        for target in order:
            conn = conns[target.name]
            try:
                if conn.closed:
                    conn = conns[target.name] = await connect(target)
                async with asyncio.timeout(30):
                    sample, body = await conn.send(reqs[target.name], True)
            except (OSError, ConnectionError, TimeoutError, ValueError):
                results[target.name].errors += 1
                continue
            if round_ >= warmup:
                results[target.name].samples.append(sample)
                results[target.name].last_body = body
    for conn in conns.values():
        if conn.transport is not None:
            conn.transport.close()
    return results


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]
