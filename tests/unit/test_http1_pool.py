"""The per-origin connection limit: idle connections first, then new ones up to the limit, then a fair line."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import trustme
import uvloop

from provider_proxy.services.http1 import (
    ConnectError,
    DeadlineExceeded,
    HttpClient,
    HttpError,
    PoolTimeout,
    Response,
    prepare,
)
from tests.support.scripted_server import (
    Handler,
    Server,
    answer,
    client,
    echo_forever,
    serve,
    target,
)


def slow_echo(delay: float) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        while await server.read_request(reader):
            await asyncio.sleep(delay)
            writer.write(answer(server.requests[-1][1]))
            await writer.drain()

    return handle


def held(release: asyncio.Event) -> Handler:
    """Streams answers whose end waits for `release`: the connection stays busy until then."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        while await server.read_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            await writer.drain()
            await release.wait()
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    return handle


async def busy(http: HttpClient, server: Server) -> Response:
    response = await http.request(target(server), b"hold", whole=False)
    assert await response.readany(1.0) == b"first"
    return response


async def test_requests_over_the_limit_wait_in_line_and_are_served_in_arrival_order() -> None:
    async with serve(slow_echo(0.02)) as server, client(max_connections_per_origin=1) as http:

        async def one(n: int) -> bytes:
            return await (await http.request(target(server), b"%d" % n)).read()

        answers = await asyncio.gather(*(one(n) for n in range(6)))
        assert answers == [b"%d" % n for n in range(6)]
        assert server.connections == 1  # each waiter was handed the connection the one before it released
        assert [body for _, body in server.requests] == [b"%d" % n for n in range(6)]


async def test_the_limit_is_per_origin_and_the_default_allows_a_hundred() -> None:
    async with serve(slow_echo(0.05)) as first, serve(slow_echo(0.05)) as second:
        async with client(max_connections_per_origin=3) as http:
            await asyncio.gather(*(http.request(target(s), b"x") for s in (first, second) for _ in range(8)))
            assert (first.connections, second.connections) == (3, 3)
        async with client() as http:
            await asyncio.gather(*(http.request(target(first), b"x") for _ in range(120)))
            assert first.connections == 3 + 100


async def test_waiting_longer_than_pool_timeout_is_an_error_naming_the_limit() -> None:
    release = asyncio.Event()
    async with serve(held(release)) as server, client(max_connections_per_origin=1, pool_timeout=0.2) as http:
        holding = await busy(http, server)
        started = time.monotonic()
        with pytest.raises(PoolTimeout, match=r"all 1 allowed are busy \(max_connections_per_origin\)") as caught:
            await http.request(target(server), b"{}")
        assert 0.15 < time.monotonic() - started < 1.0
        assert caught.value.limit == "max_connections_per_origin"
        release.set()
        assert await holding.read() == b""
        assert await (await http.request(target(server), b"again")).read() == b"first"
        assert server.connections == 1


async def test_waiting_for_a_connection_keeps_to_the_deadline() -> None:
    release = asyncio.Event()
    async with serve(held(release)) as server, client(max_connections_per_origin=1, pool_timeout=5) as http:
        holding = await busy(http, server)
        with pytest.raises(DeadlineExceeded, match="while waiting for a free connection"):
            await http.request(target(server), b"{}", deadline=http.loop.time() + 0.2)
        holding.close()


async def test_a_waiter_that_gives_up_leaves_the_line_and_the_next_one_is_served() -> None:
    release = asyncio.Event()
    async with serve(held(release)) as server, client(max_connections_per_origin=1) as http:
        holding = await busy(http, server)
        quitter = asyncio.create_task(http.request(target(server), b"quitter"))
        patient = asyncio.create_task(http.request(target(server), b"patient", whole=False))
        await asyncio.sleep(0.05)
        quitter.cancel()
        await asyncio.sleep(0.05)
        assert [len(pool.waiters) for pool in http._pools.values()] == [1]
        release.set()
        assert await holding.read() == b""
        response = await asyncio.wait_for(patient, 2)
        assert await response.read() == b"first"
        assert [body for _, body in server.requests] == [b"hold", b"patient"]
        assert server.connections == 1


async def test_a_connection_dropped_by_its_reader_frees_its_slot_for_a_new_one() -> None:
    release = asyncio.Event()
    async with serve(held(release)) as server, client(max_connections_per_origin=1) as http:
        holding = await busy(http, server)
        waiting = asyncio.create_task(http.request(target(server), b"next", whole=False))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        holding.close()  # unfinished: its connection is closed, not reused
        response = await asyncio.wait_for(waiting, 2)
        assert await response.readany(1.0) == b"first"
        assert server.connections == 2
        release.set()
        response.close()


async def test_a_failed_connect_gives_its_slot_back() -> None:
    async with serve(echo_forever(answer)) as server:
        refused = prepare("POST", f"http://127.0.0.1:{server.port}/", [])
    async with client(max_connections_per_origin=1, pool_timeout=0.2) as http:
        for _ in range(3):
            with pytest.raises(ConnectError):
                await http.request(refused, b"{}")


async def test_closing_the_client_fails_the_requests_in_line() -> None:
    release = asyncio.Event()
    async with serve(held(release)) as server:
        http = HttpClient(connect_timeout=2, read_timeout=5, max_connections_per_origin=1)
        await busy(http, server)
        waiting = asyncio.create_task(http.request(target(server), b"{}"))
        await asyncio.sleep(0.05)
        await http.close()
        with pytest.raises(HttpError, match="client was closed"):
            await waiting
        release.set()


@pytest.mark.parametrize("run", [pytest.param(asyncio.run, id="asyncio"), pytest.param(uvloop.run, id="uvloop")])
def test_failed_tls_handshakes_give_their_slots_back_on_either_loop(
    run: Callable[[Coroutine[Any, Any, None]], None],
) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)

    async def scenario() -> None:
        async with serve(echo_forever(answer), server_context) as server, client(max_connections_per_origin=2) as http:
            for _ in range(3):
                with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await http.request(target(server, scheme="https"), b"{}")
            await asyncio.sleep(0.05)  # any late connection_lost has run
            assert [pool.open for pool in http._pools.values()] == [0]

    run(scenario())
