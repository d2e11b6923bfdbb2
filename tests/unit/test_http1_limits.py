"""What an upstream can send the client, bounded: head size and lines, framing, decompressed size, and time.

Each case is a scripted server on 127.0.0.1 doing the bad thing, and the error that names the limit.
"""

from __future__ import annotations

import asyncio
import functools
import time
import tracemalloc
import zlib
from collections.abc import Iterator

import pytest

from provider_proxy.services.http1 import (
    BodyTooLarge,
    ConnectError,
    DeadlineExceeded,
    HeadersTooLarge,
    LimitError,
    TooManyHeaders,
    prepare,
)
from provider_proxy.services.http1.response import HIGH_WATER
from tests.support.scripted_server import (
    Handler,
    Server,
    answer,
    blackhole,
    client,
    echo_forever,
    serve,
    target,
)

MiB = 1 << 20


def head_then(head: bytes, pieces: Iterator[bytes], pause: float = 0.0) -> Handler:
    """A handler that answers every request with `head` and then writes `pieces`, `pause` apart."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await server.read_request(reader)
        writer.write(head)
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            if pause:
                await asyncio.sleep(pause)

    return handle


def endless(piece: bytes, count: int = 100_000) -> Iterator[bytes]:
    return (piece for _ in range(count))


# -- the head --


async def test_a_response_head_over_max_header_bytes_is_refused_naming_the_limit() -> None:
    headers = [f"X-Filler-{n}: {'a' * 4000}" for n in range(20)]  # 80 KB in all, each line well under it
    async with serve(echo_forever(lambda body: answer(b"ok", *headers))) as server, client() as http:
        with pytest.raises(HeadersTooLarge, match=r"headers exceed 64 KiB \(max_header_bytes\)") as caught:
            await http.request(target(server), b"{}")
        assert caught.value.limit == "max_header_bytes"
    async with (
        serve(echo_forever(lambda body: answer(b"ok", *headers))) as server,
        client(max_header_bytes=128 << 10) as http,
    ):
        assert await (await http.request(target(server), b"{}")).read() == b"ok"


async def test_one_header_line_that_never_ends_is_cut_at_the_limit() -> None:
    handler = head_then(b"HTTP/1.1 200 OK\r\nX-Endless: ", endless(b"a" * 8192), pause=0.001)
    async with serve(handler) as server, client(max_header_bytes=16 << 10) as http:
        async with asyncio.timeout(3):
            with pytest.raises(HeadersTooLarge, match=r"16 KiB \(max_header_bytes\)"):
                await http.request(target(server), b"{}")


async def test_more_response_headers_than_max_headers_are_refused() -> None:
    many = [f"X-H{n}: v" for n in range(101)]
    async with serve(echo_forever(lambda body: answer(b"ok", *many))) as server, client() as http:
        with pytest.raises(TooManyHeaders, match=r"more than 100 response headers \(max_headers\)"):
            await http.request(target(server), b"{}")
    async with serve(echo_forever(lambda body: answer(b"ok", *many[:99]))) as server, client() as http:
        assert await (await http.request(target(server), b"{}")).read() == b"ok"  # 99 + Content-Length


async def test_interim_answers_without_end_count_against_the_header_limit() -> None:
    handler = head_then(b"", endless(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n" * 50), pause=0.001)
    async with serve(handler) as server, client() as http:
        async with asyncio.timeout(3):
            with pytest.raises(HeadersTooLarge, match="max_header_bytes"):
                await http.request(target(server), b"{}")


@pytest.mark.parametrize(
    ("start", "piece"),
    [
        (b"5\r\nhello\r\n0\r\n", b"X-Trailer: " + b"t" * 100 + b"\r\n"),  # trailers that never end
        (b"5;ext=", b"e" * 1024),  # a chunk extension that never ends
    ],
    ids=["trailers", "chunk-extension"],
)
async def test_framing_without_body_data_is_bounded_like_a_head(start: bytes, piece: bytes) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + start
    async with serve(head_then(head, endless(piece), pause=0.001)) as server, client() as http:
        async with asyncio.timeout(3):
            with pytest.raises(HeadersTooLarge, match=r"chunk framing or trailers without body data"):
                await http.request(target(server), b"{}")


# -- the body --


async def test_a_declared_length_over_max_body_bytes_is_refused_before_the_body_comes() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (10 * MiB)
    async with serve(head_then(head, iter([b"x"]), pause=10)) as server, client(max_body_bytes=MiB) as http:
        async with asyncio.timeout(2):
            with pytest.raises(BodyTooLarge, match=r"larger than 1 MiB \(max_body_bytes\)"):
                await http.request(target(server), b"{}")


def chunked(payload: bytes, size: int = 64 << 10) -> bytes:
    pieces = (payload[i : i + size] for i in range(0, len(payload), size))
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


async def test_a_body_over_max_body_bytes_is_refused_whole_and_streamed() -> None:
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"z" * (3 * MiB))
    async with serve(echo_forever(lambda body: reply)) as server, client(max_body_bytes=2 * MiB) as http:
        with pytest.raises(BodyTooLarge, match=r"larger than 2 MiB \(max_body_bytes\)"):
            await http.request(target(server), b"{}")
        response = await http.request(target(server), b"{}", whole=False)
        received = 0
        with pytest.raises(BodyTooLarge):
            while chunk := await response.readany(2.0):
                received += len(chunk)
        assert 0 < received <= 2 * MiB


@functools.cache
def bomb(encoding: str, size: int) -> bytes:
    """`size` zero bytes, compressed: about a thousandth of that on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    block = bytes(MiB)
    return b"".join(packer.compress(block) for _ in range(size // MiB)) + packer.flush()


def bomb_server(encoding: str, size: int) -> Handler:
    packed = bomb(encoding, size)
    head = f"HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\nContent-Length: {len(packed)}\r\n\r\n"
    return echo_forever(lambda body: head.encode() + packed)


@pytest.fixture
def memory_peak() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield None
    finally:
        tracemalloc.stop()


def peak_since_reset() -> int:
    return tracemalloc.get_traced_memory()[1]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compression_bomb_read_whole_stops_at_the_body_cap(encoding: str, memory_peak: None) -> None:
    async with serve(bomb_server(encoding, 128 * MiB)) as server, client(max_body_bytes=8 * MiB) as http:
        tracemalloc.reset_peak()
        with pytest.raises(BodyTooLarge, match=r"larger than 8 MiB after decompression \(max_body_bytes\)"):
            await http.request(target(server), b"{}")
        assert peak_since_reset() < 16 * MiB  # the cap and one inflation step, never the 128 MiB


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compression_bomb_streamed_stays_within_the_stream_buffer(encoding: str, memory_peak: None) -> None:
    async with serve(bomb_server(encoding, 128 * MiB)) as server, client(max_body_bytes=32 * MiB) as http:
        tracemalloc.reset_peak()
        response = await http.request(target(server), b"{}", whole=False)
        received, largest = 0, 0
        with pytest.raises(BodyTooLarge, match="after decompression"):
            while chunk := await response.readany(2.0):
                received, largest = received + len(chunk), max(largest, len(chunk))
        assert 30 * MiB <= received <= 32 * MiB
        assert largest <= HIGH_WATER
        assert peak_since_reset() < 6 * MiB


async def test_a_compressed_stream_nobody_reads_is_inflated_only_as_far_as_there_is_room() -> None:
    payload = bytes(range(256)) * (24 * 1024)  # 6 MiB that compress well
    packed = zlib.compress(payload)
    head = f"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: {len(packed)}\r\n\r\n".encode()
    async with serve(echo_forever(lambda body: head + packed)) as server, client() as http:
        response = await http.request(target(server), b"{}", whole=False)
        await asyncio.sleep(0.3)
        assert response._unread <= HIGH_WATER  # the rest waits compressed, and the socket is not read
        received = bytearray()
        while chunk := await response.readany(2.0):
            received += chunk
        assert bytes(received) == payload
        assert response.at_eof
        assert await (await http.request(target(server), b"{}")).read() == payload
        assert server.connections == 1


# -- time --


def trickle(head: bytes, every: float) -> Handler:
    """Answers with `head` one byte at a time, `every` seconds apart: never silent long enough for a read timeout."""
    return head_then(b"", (head[i : i + 1] for i in range(len(head))), pause=every)


async def test_a_head_trickled_byte_by_byte_ends_at_the_deadline() -> None:
    slow = trickle(answer(b"x" * 10, *[f"X-Pad-{n}: padding" for n in range(20)]), every=0.02)
    async with serve(slow) as server, client(read_timeout=1.0) as http:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"before the upstream answered \(deadline\)") as caught:
            await http.request(target(server), b"{}", deadline=http.loop.time() + 0.3)
        assert 0.25 < time.monotonic() - started < 1.0
        assert isinstance(caught.value, TimeoutError) and isinstance(caught.value, LimitError)


async def test_total_timeout_gives_every_request_a_deadline() -> None:
    slow = trickle(answer(b"x" * 10, *[f"X-Pad-{n}: padding" for n in range(20)]), every=0.02)
    async with serve(slow) as server, client(read_timeout=1.0, total_timeout=0.3) as http:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await http.request(target(server), b"{}")
        assert time.monotonic() - started < 1.0


async def test_a_whole_body_trickled_ends_at_the_deadline_and_a_prompt_one_does_not() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n"
    async with serve(head_then(head, endless(b"b", 200), pause=0.02)) as server, client(read_timeout=1.0) as http:
        with pytest.raises(DeadlineExceeded, match="before the upstream's answer was complete"):
            await http.request(target(server), b"{}", deadline=http.loop.time() + 0.3)
    async with serve(echo_forever(answer)) as server, client() as http:
        response = await http.request(target(server), b"{}", deadline=http.loop.time() + 2)
        assert await response.read() == b"{}"


async def test_a_stream_is_read_at_its_readers_pace_and_within_a_deadline_only_when_asked() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    events = endless(b"6\r\nevent\n\r\n", 40)
    async with serve(head_then(head, events, pause=0.02)) as server, client() as http:
        response = await http.request(target(server), b"{}", whole=False, deadline=http.loop.time() + 0.2)
        await asyncio.sleep(0.3)  # past the request's deadline: the caller governs the stream
        assert await response.readany(1.0)
        with pytest.raises(DeadlineExceeded):
            await response.readany(1.0, deadline=response.deadline)
        response.close()
        response = await http.request(target(server), b"{}", whole=False, deadline=http.loop.time() + 0.2)
        with pytest.raises(DeadlineExceeded):
            await response.read()  # a whole read keeps to the request's deadline


async def test_the_deadline_and_the_connect_timeout_bound_a_connect_that_hangs() -> None:
    with blackhole() as port:
        hanging = prepare("POST", f"http://127.0.0.1:{port}/", [])
        async with client(connect_timeout=5.0) as http:
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded, match="while connecting"):
                await http.request(hanging, b"{}", deadline=http.loop.time() + 0.2)
            assert time.monotonic() - started < 1.0
        async with client(connect_timeout=0.2) as http:
            with pytest.raises(ConnectError, match=r"no connection within 0.2 s \(connect_timeout\)"):
                await http.request(hanging, b"{}")
