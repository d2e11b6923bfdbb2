"""The upstream HTTP/1.1 client against scripted servers on 127.0.0.1: framing, keep-alive, failures."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib
from collections.abc import Callable

import pytest
import trustme

from provider_proxy.services.http1 import ConnectError, Disconnected, HttpClient, HttpError, prepare
from tests.support.scripted_server import (
    Server,
    answer,
    client,
    echo_forever,
    serve,
    target,
)


async def test_sequential_requests_share_one_keep_alive_connection_and_arrive_intact() -> None:
    async with serve(echo_forever(lambda body: answer(b"got " + body))) as server, client() as http:
        for n in range(3):
            response = await http.request(target(server), b'{"n": %d}' % n)
            assert response.status == 200
            assert await response.read() == b'got {"n": %d}' % n
    assert server.connections == 1
    head, _ = server.requests[0]
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in head
    assert b"Authorization: Bearer sk-x\r\n" in head
    assert b"Content-Length: 8\r\n" in head


async def test_concurrent_requests_each_get_their_own_answer() -> None:
    async with serve(echo_forever(lambda body: answer(body))) as server, client() as http:
        responses = await asyncio.gather(*(http.request(target(server), b"%d" % n) for n in range(20)))
        assert [await r.read() for r in responses] == [b"%d" % n for n in range(20)]
        assert server.connections == 20
        await http.request(target(server), b"again")
        assert server.connections == 20  # the pool kept them


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("identity", lambda data: data)],
)
async def test_chunked_and_compressed_bodies_are_decoded(encoding: str, compress: Callable[[bytes], bytes]) -> None:
    payload = b'{"choices": []}' * 500
    packed = compress(payload)
    pieces = [packed[i : i + 700] for i in range(0, len(packed), 700)]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"

    def reply(body: bytes) -> bytes:
        head = f"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: {encoding}\r\n\r\n"
        return head.encode() + chunked

    async with serve(echo_forever(reply)) as server, client() as http:
        for _ in range(2):
            response = await http.request(target(server), b"{}")
            assert await response.read() == payload
        assert server.connections == 1
        assert b"Accept-Encoding: gzip, deflate\r\n" in server.requests[0][0]


async def test_an_unknown_content_encoding_is_an_error() -> None:
    async with serve(echo_forever(lambda body: answer(b"xx", "Content-Encoding: br"))) as server, client() as http:
        with pytest.raises(HttpError, match="unsupported Content-Encoding: br"):
            await http.request(target(server), b"{}")


async def test_a_body_without_length_ends_with_the_connection() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart one, ")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"part two")
        await writer.drain()

    async with serve(handle) as server, client() as http:
        for _ in range(2):
            response = await http.request(target(server), b"{}")
            assert await response.read() == b"part one, part two"
        assert server.connections == 2


async def test_interim_answers_are_skipped() -> None:
    reply = b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + answer(b"final")
    async with serve(echo_forever(lambda body: reply)) as server, client() as http:
        response = await http.request(target(server), b"{}")
        assert (response.status, await response.read()) == (200, b"final")
        response = await http.request(target(server), b"{}")
        assert await response.read() == b"final"
        assert server.connections == 1


async def test_error_statuses_come_back_with_headers_and_body() -> None:
    reply = answer(b'{"error": "slow down"}', "Retry-After: 3", status="429 Too Many Requests")
    async with serve(echo_forever(lambda body: reply)) as server, client() as http:
        response = await http.request(target(server), b"{}")
        assert response.status == 429
        assert response.headers["retry-after"] == "3"
        assert await response.read() == b'{"error": "slow down"}'


async def test_a_pooled_connection_the_server_closed_is_replaced_without_an_error() -> None:
    async def one_answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await server.read_request(reader)
        writer.write(answer(b"ok"))  # keep-alive implied, yet the server closes
        await writer.drain()

    async with serve(one_answer_then_close) as server, client() as http:
        for _ in range(3):
            response = await http.request(target(server), b"{}")
            assert await response.read() == b"ok"
            await asyncio.sleep(0.02)
        assert server.connections == 3


async def test_a_pooled_connection_that_dies_unanswered_is_retried_once_on_a_new_one() -> None:
    async def first_ok_then_drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        while await server.read_request(reader):
            if len(server.requests) % 2 == 0:
                return  # read the request, closed without a word: as a server timing out an idle connection
            writer.write(answer(b"ok"))
            await writer.drain()

    async with serve(first_ok_then_drop) as server, client() as http:
        assert await (await http.request(target(server), b"{}")).read() == b"ok"
        assert await (await http.request(target(server), b"{}")).read() == b"ok"
        assert server.connections == 2


async def test_a_new_connection_closed_unanswered_is_an_error() -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await server.read_request(reader)

    async with serve(drop) as server, client() as http:
        with pytest.raises(Disconnected, match="closed the connection"):
            await http.request(target(server), b"{}")
        assert server.connections == 1


async def test_an_answer_cut_short_is_an_error() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        await writer.drain()

    async with serve(cut) as server, client() as http:
        with pytest.raises(Disconnected):
            await http.request(target(server), b"{}")


async def test_a_silent_server_is_a_timeout_and_its_connection_is_not_reused() -> None:
    async def silent_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        while await server.read_request(reader):
            if len(server.requests) > 1:
                writer.write(answer(b"late"))

    async with serve(silent_once) as server:
        http = HttpClient(connect_timeout=2, read_timeout=0.2)
        try:
            with pytest.raises(TimeoutError):
                await http.request(target(server), b"{}")
            assert await (await http.request(target(server), b"{}")).read() == b"late"
            assert server.connections == 2
        finally:
            await http.close()


async def test_garbage_instead_of_http_is_an_error() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await server.read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    async with serve(garbage) as server, client() as http:
        with pytest.raises(HttpError, match="invalid HTTP answer"):
            await http.request(target(server), b"{}")


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with serve(echo_forever(answer)) as server:
        port = server.port
    async with client() as http:
        with pytest.raises(ConnectError, match=f"cannot connect to http://127.0.0.1:{port}"):
            await http.request(prepare("POST", f"http://127.0.0.1:{port}/", []), b"{}")


async def test_streamed_bodies_arrive_as_they_come_and_silence_is_reported() -> None:
    async def stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        while await server.read_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            await writer.drain()
            await asyncio.sleep(0.3)
            writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
            await writer.drain()

    async with serve(stream) as server, client() as http:
        response = await http.request(target(server), b"{}", whole=False)
        assert await response.readany(1.0) == b"first"
        assert await response.readany(0.05) is None
        assert await response.readany(1.0) == b"second"
        assert await response.readany(1.0) == b""
        assert response.at_eof
        response.close()  # a finished answer: its connection stays pooled
        response = await http.request(target(server), b"{}", whole=False)
        response.close()  # an unfinished one: its connection is dropped
        response = await http.request(target(server), b"{}", whole=False)
        assert await response.read() == b"firstsecond"
        assert server.connections == 2


async def test_a_stream_nobody_reads_pauses_the_connection_and_loses_nothing() -> None:
    payload = bytes(range(256)) * 16 * 1024  # 4 MiB

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await server.read_request(reader)
        writer.write(answer(payload))
        await writer.drain()

    async with serve(big) as server, client() as http:
        response = await http.request(target(server), b"{}", whole=False)
        await asyncio.sleep(0.3)
        buffered = response._unread
        assert buffered < 3 << 20  # reading stopped near the high-water mark, the rest waits in the socket
        received = bytearray()
        while chunk := await response.readany(2.0):
            received += chunk
        assert bytes(received) == payload


async def test_connections_idle_past_the_keepalive_limit_are_not_reused() -> None:
    async with serve(echo_forever(lambda body: answer(b"ok"))) as server, client(keepalive=0.0) as http:
        for _ in range(2):
            assert await (await http.request(target(server), b"{}")).read() == b"ok"
        assert server.connections == 2


async def test_https_with_a_trusted_certificate_and_refusal_without_one() -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)

    async with serve(echo_forever(lambda body: answer(b"secure " + body)), server_context) as server:
        http = HttpClient(connect_timeout=2, read_timeout=5, ssl_context=trusting)
        try:
            response = await http.request(target(server, scheme="https"), b"hi")
            assert await response.read() == b"secure hi"
        finally:
            await http.close()
        async with client() as default_trust:
            with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await default_trust.request(target(server, scheme="https"), b"hi")


def test_prepare_renders_the_head_once_and_refuses_what_would_split_it() -> None:
    head = prepare("POST", "https://api.example.com/openai/deployments/my model/chat?api-version=1", []).head
    assert head.startswith(b"POST /openai/deployments/my%20model/chat?api-version=1 HTTP/1.1\r\n")
    assert b"\r\nHost: api.example.com\r\n" in head
    assert head.endswith(b"\r\nContent-Length: ")
    assert b"Host: [::1]:8000\r\n" in prepare("GET", "http://[::1]:8000/v1/models", []).head
    with pytest.raises(ValueError, match="cannot be sent"):
        prepare("POST", "http://127.0.0.1/", [("X-Title", "a\r\nInjected: yes")])
    with pytest.raises(ValueError, match="not an http"):
        prepare("POST", "ftp://127.0.0.1/", [])
