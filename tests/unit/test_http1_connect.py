"""Happy-eyeballs connects: a name with IPv6 and IPv4 addresses, on asyncio's loop and on uvloop (the server's).

The name `dual-stack.test` resolves, through the loop's resolver replaced for the test, to ::1 and
127.0.0.1 (this machine's /etc/hosts maps `localhost` to 127.0.0.1 only). An address that "hangs" is a
listening socket whose backlog is full: the kernel drops the SYN and the connect waits.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import uvloop

from provider_proxy.services.http1 import ConnectError, prepare
from provider_proxy.services.http1.dial import interleave
from tests.support.scripted_server import answer, blackhole, client, echo_forever, serve

NAME = "dual-stack.test"
Runner = Callable[[Coroutine[Any, Any, None]], None]
RUNNERS = [pytest.param(asyncio.run, id="asyncio"), pytest.param(uvloop.run, id="uvloop")]


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1) to race against 127.0.0.1"
)


def resolve_name_to(*addresses: str) -> None:
    """From now on the running loop resolves NAME to `addresses`, in that order."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != NAME:
            return await real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0))
            if ":" in address
            else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))
            for address in addresses
        ]

    loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]


def free_port_on_both() -> Iterator[int]:
    """Ports free on 127.0.0.1 and on ::1 alike."""
    while True:
        with socket.socket() as v4, socket.socket(socket.AF_INET6) as v6:
            v4.bind(("127.0.0.1", 0))
            port: int = v4.getsockname()[1]
            try:
                v6.bind(("::1", port))
            except OSError:
                continue
        yield port


@pytest.mark.parametrize("run", RUNNERS)
@pytest.mark.parametrize(("listening", "order"), [("127.0.0.1", ("::1", "127.0.0.1")), ("::1", ("127.0.0.1", "::1"))])
def test_a_name_with_both_families_reaches_the_one_that_listens(
    run: Runner, listening: str, order: tuple[str, ...]
) -> None:
    async def scenario() -> None:
        resolve_name_to(*order)
        async with serve(echo_forever(answer), host=listening) as server, client() as http:
            response = await http.request(prepare("POST", f"http://{NAME}:{server.port}/", []), b"hello")
            assert await response.read() == b"hello"

    run(scenario())


@pytest.mark.parametrize("run", RUNNERS)
def test_an_address_that_hangs_delays_the_next_family_only_by_the_happy_eyeballs_delay(run: Runner) -> None:
    async def scenario() -> None:
        resolve_name_to("::1", "127.0.0.1")
        for port in free_port_on_both():
            try:
                with blackhole("::1", port):
                    async with (
                        serve(echo_forever(answer), port=port) as server,
                        client(connect_timeout=5.0, happy_eyeballs_delay=0.1) as http,
                    ):
                        started = time.monotonic()
                        response = await http.request(prepare("POST", f"http://{NAME}:{server.port}/", []), b"v4")
                        assert await response.read() == b"v4"
                        assert time.monotonic() - started < 1.0  # not the 5 s connect timeout
                return
            except OSError as exc:  # the port was taken in between: another pair
                if "address already in use" not in str(exc).lower():
                    raise

    run(scenario())


@pytest.mark.parametrize("run", RUNNERS)
def test_every_address_failing_is_one_connect_error_for_the_name(run: Runner) -> None:
    async def scenario() -> None:
        resolve_name_to("::1", "127.0.0.1")
        port = next(free_port_on_both())
        async with client() as http:
            with pytest.raises(ConnectError, match=f"cannot connect to http://{NAME}:{port}: "):
                await http.request(prepare("POST", f"http://{NAME}:{port}/", []), b"{}")

    run(scenario())


def test_addresses_are_interleaved_by_family_in_the_resolvers_order() -> None:
    def info(address: str) -> Any:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, 443))

    resolved = [info(a) for a in ("2001:db8::1", "2001:db8::2", "2001:db8::3", "192.0.2.1", "192.0.2.2")]
    ordered = [entry[4][0] for entry in interleave(resolved)]
    assert ordered == ["2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2", "2001:db8::3"]
