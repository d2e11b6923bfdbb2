"""Opening the upstream client's TCP connections: happy eyeballs over a name's addresses, and CONNECT tunnels.

Happy eyeballs (RFC 8305): the addresses a name resolves to are tried in the resolver's order with the
families interleaved (first family, other family, first family...); each attempt gets `delay` seconds
before the next starts beside it, a failed attempt starts the next at once, and the first socket that
connects wins while the others are closed. asyncio's `create_connection` can do this itself
(`happy_eyeballs_delay`, `interleave`) but uvloop's, the loop the proxy serves on, cannot, so the socket
is opened here and handed to `create_connection(sock=...)`: one code path on both loops.

Failures are plain `OSError`s (and `TunnelRefused` for a proxy's non-2xx answer to CONNECT);
services.http1 maps them to its exception tree in one place.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Sequence
from typing import Any, Final

_AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]
_MAX_ERRORS_SHOWN: Final = 3


async def open_socket(loop: asyncio.AbstractEventLoop, host: str, port: int, *, delay: float) -> socket.socket:
    """A connected non-blocking TCP socket to `host:port`, racing its addresses as described above."""
    infos = await _resolve(loop, host, port)
    candidates = interleave(infos)
    attempts: set[asyncio.Task[socket.socket]] = set()
    errors: list[OSError] = []
    started = 0
    try:
        while True:
            if started < len(candidates):
                attempts.add(loop.create_task(_attempt(loop, candidates[started])))
                started += 1
            if not attempts:
                raise _combine(errors)
            more = started < len(candidates)
            done, attempts = await asyncio.wait(
                attempts, timeout=delay if more else None, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                error = task.exception()
                if error is None:
                    return _claim(task.result(), done)
                errors.append(error if isinstance(error, OSError) else OSError(str(error)))
    finally:
        for task in attempts:
            task.cancel()
        for task in attempts:  # one that connects before its cancellation lands is closed then
            task.add_done_callback(_close_result)


def _claim(winner: socket.socket, done: set[asyncio.Task[socket.socket]]) -> socket.socket:
    """The winning socket; any other attempt that also finished connected in this step is closed."""
    for task in done:
        if not task.cancelled() and task.exception() is None and task.result() is not winner:
            task.result().close()
    return winner


def _close_result(task: asyncio.Task[socket.socket]) -> None:
    if not task.cancelled() and task.exception() is None:
        task.result().close()


async def _resolve(loop: asyncio.AbstractEventLoop, host: str, port: int) -> Sequence[_AddrInfo]:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:  # a literal address: no resolver round trip (asyncio skips it too)
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sockaddr = (host, port, 0, 0) if address.version == 6 else (host, port)
        literal: _AddrInfo = (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)
        return [literal]
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"{host} resolved to no address")
    return infos


def interleave(infos: Sequence[_AddrInfo]) -> list[_AddrInfo]:
    """Addresses alternating between families (the resolver's first family first), each in the resolver's order."""
    by_family: dict[int, list[_AddrInfo]] = {}
    for info in infos:
        by_family.setdefault(info[0], []).append(info)
    queues = list(by_family.values())
    ordered: list[_AddrInfo] = []
    for index in range(max(len(queue) for queue in queues)):
        ordered.extend(queue[index] for queue in queues if index < len(queue))
    return ordered


async def _attempt(loop: asyncio.AbstractEventLoop, info: _AddrInfo) -> socket.socket:
    family, kind, proto, _, address = info
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(sock, address)
    except OSError as exc:
        sock.close()
        if exc.errno is None:
            raise
        shown = f"[{address[0]}]:{address[1]}" if family == socket.AF_INET6 else f"{address[0]}:{address[1]}"
        raise OSError(exc.errno, f"{os.strerror(exc.errno)} ({shown})") from None
    except BaseException:
        sock.close()
        raise
    return sock


def _combine(errors: list[OSError]) -> OSError:
    """One error for a name whose every address failed: the error itself when they all say the same."""
    if not errors:
        return OSError("no address to connect to")
    distinct = list(dict.fromkeys(str(error) for error in errors))
    if len(distinct) == 1:
        return errors[0]
    shown = "; ".join(distinct[:_MAX_ERRORS_SHOWN])
    return OSError(f"every address failed ({len(errors)}): {shown}")


class TunnelRefused(Exception):
    """The proxy answered CONNECT with a status other than 2xx."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}".strip())
        self.status = status
        self.reason = reason


class _TunnelReply(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT: a status line and headers, at most `limit` bytes of them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.answer: asyncio.Future[bytes] = loop.create_future()
        self._limit = limit
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        if self.answer.done():  # nothing may follow the answer before our TLS handshake
            return
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end >= 0:
            self.answer.set_result(bytes(self._buffer[: end + 4]))
        elif len(self._buffer) > self._limit:
            self.answer.set_exception(ConnectionError(f"the proxy's answer to CONNECT exceeds {self._limit} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            detail = f": {exc}" if exc else ""
            self.answer.set_exception(ConnectionResetError(f"the proxy closed the connection{detail}"))


async def open_tunnel(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, authority: str, authorization: bytes, *, limit: int
) -> asyncio.Transport:
    """Ask the proxy on `sock` for a tunnel to `authority` (host:port); the transport, once it answered 2xx.

    Headers of a 2xx answer are ignored; anything else raises `TunnelRefused` and closes the connection.
    """
    request = b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (authority.encode(), authority.encode(), authorization)
    transport, reply = await loop.create_connection(lambda: _TunnelReply(loop, limit), sock=sock)
    try:
        transport.write(request)
        head = await reply.answer
        status, reason = _status_line(head)
        if not 200 <= status < 300:
            raise TunnelRefused(status, reason)
    except BaseException:
        transport.close()
        raise
    return transport


def _status_line(head: bytes) -> tuple[int, str]:
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise ConnectionError(f"the proxy answered CONNECT with something that is not HTTP: {line[:80]!r}")
    return int(code), reason.strip()
