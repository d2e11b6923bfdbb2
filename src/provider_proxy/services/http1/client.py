"""The client: per-origin pools with a connection limit and a fair line, connects (direct, or through a proxy)."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from typing import Final

from provider_proxy.services.http1.connection import ACTIVE, CLOSED, IDLE, Connection, Pool
from provider_proxy.services.http1.dial import TunnelRefused, open_socket, open_tunnel
from provider_proxy.services.http1.errors import (
    ConnectError,
    DeadlineExceeded,
    Disconnected,
    HttpError,
    PoolTimeout,
    ProxyConfigError,
    ProxyRefused,
)
from provider_proxy.services.http1.response import Response
from provider_proxy.services.http1.target import Target, host_port
from provider_proxy.utils.proxy import Proxy, ProxyRules

MAX_HEADER_BYTES: Final = 64 << 10
MAX_HEADERS: Final = 100
MAX_BODY_BYTES: Final = 256 << 20
MAX_CONNECTIONS_PER_ORIGIN: Final = 100
HAPPY_EYEBALLS_DELAY: Final = 0.25  # RFC 8305's recommended connection attempt delay


class HttpClient:
    """Keep-alive connections per origin (scheme, host, port), most recently used first, at most so many each.

    `deadline`s are `loop.time()` values. Proxy settings come from `proxy` (every origin through it) or,
    with `trust_env`, from HTTPS_PROXY / HTTP_PROXY / NO_PROXY read once here; the choice for an origin is
    made on its first request and kept.
    """

    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        keepalive: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
        total_timeout: float | None = None,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_headers: int = MAX_HEADERS,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_connections_per_origin: int = MAX_CONNECTIONS_PER_ORIGIN,
        pool_timeout: float | None = None,
        happy_eyeballs_delay: float = HAPPY_EYEBALLS_DELAY,
        proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive
        self.total_timeout = total_timeout
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.max_body_bytes = max_body_bytes
        self.max_connections_per_origin = max_connections_per_origin
        self.pool_timeout = connect_timeout if pool_timeout is None else pool_timeout
        self.happy_eyeballs_delay = happy_eyeballs_delay
        try:
            self._proxies = ProxyRules(proxy, os.environ if trust_env else None)
        except ValueError as exc:
            raise ProxyConfigError(str(exc)) from None
        self._pools: dict[tuple[str, str, int], Pool] = {}
        self._all: set[Connection] = set()
        self._ssl = ssl_context  # the system's default trust store unless given
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<HttpClient {self._proxies!r}, {len(self._all)} connections>"

    @property
    def connection_count(self) -> int:
        """Connections open, in use or idle."""
        return len(self._all)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    async def request(
        self, target: Target, body: bytes, *, whole: bool = True, deadline: float | None = None
    ) -> Response:
        """Send `body` to `target`; return once the headers (or, with `whole`, the entire body) arrived.

        `deadline` (a loop.time(); default now + total_timeout when that is set) bounds everything up to
        that point: waiting for a connection, opening it, the answer. `Response.read` keeps to it too.
        """
        if deadline is None and self.total_timeout is not None:
            deadline = self.loop.time() + self.total_timeout
        pool = self._pools.get(target.origin)
        if pool is None:
            pool = self._new_pool(target)
        for fresh in (False, True):
            conn = None if fresh else self._take_idle(pool)
            if conn is None:
                conn = await self._acquire(pool, target, deadline)
            reused = conn.used > 0
            response = conn.send(target, body, whole=whole, deadline=deadline)
            try:
                await response._arrival(self.read_timeout, whole=whole, deadline=deadline)
            except Disconnected as exc:
                if reused and not exc.received and not fresh:
                    continue  # the server had closed this idle connection: once more on a new one
                raise
            except BaseException:
                response.close()
                raise
            return response
        raise AssertionError("unreachable")

    def _new_pool(self, target: Target) -> Pool:
        scheme, host, port = target.origin
        try:
            proxy = self._proxies.select(scheme, host, port)
        except ValueError as exc:
            raise ProxyConfigError(str(exc)) from None
        pool = Pool(f"{scheme}://{host_port(host, port)}", proxy, tunnel=scheme == "https")
        self._pools[target.origin] = pool
        return pool

    def _take_idle(self, pool: Pool) -> Connection | None:
        idle = pool.idle
        if not idle:
            return None
        oldest = self.loop.time() - self.keepalive
        while idle:
            conn = idle.pop()
            conn.state = ACTIVE
            if conn.idle_since > oldest:
                return conn
            conn.close()
        return None

    async def _acquire(self, pool: Pool, target: Target, deadline: float | None) -> Connection:
        """A connection to `pool`'s origin: a new one while under the limit, else one handed over in turn."""
        while True:
            if pool.open < self.max_connections_per_origin and not pool.waiters:
                pool.open += 1
                return await self._dial(pool, target, deadline)
            handed = await self._queue(pool, deadline)
            if handed is None:  # a slot came free and is ours
                return await self._dial(pool, target, deadline)
            if handed.state is not CLOSED:
                return handed

    async def _queue(self, pool: Pool, deadline: float | None) -> Connection | None:
        """Wait in line: a connection handed over, or None for a free slot (already counted in `pool.open`)."""
        loop = self.loop
        waiter: asyncio.Future[Connection | None] = loop.create_future()
        pool.waiters.append(waiter)
        until = loop.time() + self.pool_timeout
        by_deadline = deadline is not None and deadline < until
        timeout = asyncio.timeout_at(until if deadline is None else min(until, deadline))
        try:
            async with timeout:
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._give_back(pool, waiter.result())  # handed over just as this request gave up
            elif waiter in pool.waiters:
                pool.waiters.remove(waiter)
            if isinstance(exc, TimeoutError) and timeout.expired():
                if by_deadline:
                    raise DeadlineExceeded("while waiting for a free connection") from None
                raise PoolTimeout(pool.origin, self.max_connections_per_origin, self.pool_timeout) from None
            raise

    def _give_back(self, pool: Pool, handed: Connection | None) -> None:
        if handed is None:
            pool.open -= 1
            self._grant(pool)
        elif handed.state is not CLOSED:
            self._park(handed)

    def _grant(self, pool: Pool) -> None:
        """Slots came free: the first requests in line get them, and dial."""
        while pool.waiters and pool.open < self.max_connections_per_origin:
            waiter = pool.waiters.popleft()
            if not waiter.done():
                pool.open += 1
                waiter.set_result(None)

    async def _dial(self, pool: Pool, target: Target, deadline: float | None) -> Connection:
        """A new connection, its slot in `pool.open` already counted; the slot comes free again if this fails."""
        try:
            conn = await self._open(pool, target, deadline)
        except BaseException:
            pool.open -= 1
            self._grant(pool)
            raise
        self._all.add(conn)
        return conn

    async def _open(self, pool: Pool, target: Target, deadline: float | None) -> Connection:
        """Connect (through the pool's proxy, if any) within connect_timeout and the deadline; errors mapped here."""
        loop = self.loop
        until = loop.time() + self.connect_timeout
        by_deadline = deadline is not None and deadline < until
        timeout = asyncio.timeout_at(until if deadline is None else min(until, deadline))
        proxy = pool.proxy
        reached = False
        try:
            async with timeout:
                if proxy is None:
                    sock = await open_socket(loop, target.host, target.port, delay=self.happy_eyeballs_delay)
                    tls = self._tls() if target.scheme == "https" else None
                    _, conn = await loop.create_connection(
                        lambda: Connection(self, pool), sock=sock, ssl=tls, server_hostname=target.host if tls else None
                    )
                    return conn
                sock = await open_socket(loop, proxy.host, proxy.port, delay=self.happy_eyeballs_delay)
                reached = True
                if pool.absolute is not None:
                    _, conn = await loop.create_connection(lambda: Connection(self, pool), sock=sock)
                    return conn
                return await self._tunnel(pool, target, proxy, sock)
        except TunnelRefused as exc:
            assert proxy is not None
            raise ProxyRefused(proxy, pool.origin, exc.status, exc.reason) from None
        except OSError as exc:
            cause = exc
            if timeout.expired():
                if by_deadline:
                    raise DeadlineExceeded("while connecting") from None
                cause = TimeoutError(f"no connection within {self.connect_timeout:g} s (connect_timeout)")
            raise ConnectError(pool.origin, cause, proxy=proxy, reached_proxy=reached) from None

    async def _tunnel(self, pool: Pool, target: Target, proxy: Proxy, sock: socket.socket) -> Connection:
        """CONNECT through the proxy on `sock`, then TLS with the target inside the tunnel."""
        loop = self.loop
        authority = host_port(target.host, target.port)
        transport = await open_tunnel(loop, sock, authority, proxy.authorization, limit=self.max_header_bytes)
        conn = Connection(self, pool)
        tls = await loop.start_tls(transport, conn, self._tls(), server_hostname=target.host)
        if tls is None:
            transport.close()
            raise ConnectionError("the TLS handshake through the proxy ended without a connection")
        conn.connection_made(tls)
        return conn

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _park(self, conn: Connection) -> None:
        """A connection done with its answer: to the first request in line, else idle in its pool."""
        pool = conn.pool
        while pool.waiters:
            waiter = pool.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.state = IDLE
        conn.idle_since = self.loop.time()
        pool.idle.append(conn)

    def _forget(self, conn: Connection, *, was_idle: bool) -> None:
        if conn not in self._all:  # its connect failed half-way: the slot came free with the failure
            return
        self._all.remove(conn)
        pool = conn.pool
        if was_idle:  # closed by the server while idle
            pool.idle.remove(conn)
        pool.open -= 1
        self._grant(pool)

    async def close(self) -> None:
        pools = list(self._pools.values())
        self._pools = {}
        for pool in pools:
            while pool.waiters:
                waiter = pool.waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(HttpError("the HTTP client was closed"))
        for conn in list(self._all):
            conn.close()
        self._all.clear()
