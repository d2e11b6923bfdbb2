"""The HTTP/1.1 client behind every upstream call: keep-alive connections per origin, httptools parsing.

Why not a general client: under load aiohttp's per-request machinery (request and response objects,
header merging, connector bookkeeping) was the largest block of the proxy's event-loop time, about 30%
(bench/RESULTS.md). An upstream call here is always the same shape, so the request line and headers
are prepared once per URL (`Target`) and a request is one `writelines` of head and body; the answer
is parsed by llhttp (httptools, the parser uvicorn uses) straight into a `Response`.

What it does: http and https (the default certificate store), keep-alive with an idle limit,
content-length, chunked and close-delimited bodies, gzip/deflate bodies, interim 1xx answers skipped,
read-side flow control for slow stream consumers, a connect timeout and a read timeout (no byte for
`read_timeout` seconds). A reused connection that the server had already closed is replaced once,
at once, when it failed before any byte of an answer. What it does not: redirects, cookies, proxies,
HTTP/2. Failures are `HttpError` (and `TimeoutError`); services.upstream phrases them for clients.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, cast
from urllib.parse import quote, urlsplit

import httptools

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# Above this much unread stream data the connection stops reading until the consumer catches up.
_HIGH_WATER: Final = 1 << 20
_MAX_BODY: Final = 256 << 20


class HttpError(Exception):
    """The upstream connection failed or answered something that is not HTTP/1.1."""


class ConnectError(HttpError):
    """No connection could be made (refused, unknown host, TLS handshake failure)."""

    def __init__(self, origin: str, error: OSError) -> None:
        super().__init__(f"cannot connect to {origin}: {error.strerror or error}")
        self.error = error


class Disconnected(HttpError):
    """The server closed the connection before the answer was complete."""

    def __init__(self, message: str, *, received: bool) -> None:
        super().__init__(message)
        self.received = received


@dataclass(frozen=True, slots=True)
class Target:
    """One URL's request line and headers, ready to write; `prepare` builds it once per URL."""

    scheme: str
    host: str
    port: int
    head: bytes  # ends with "Content-Length: "; the length and the blank line follow per request

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


def prepare(method: str, url: str, headers: Iterable[tuple[str, str]]) -> Target:
    """Parse `url` and render the request head; rejects header names or values that would split it."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    authority = host if port == _DEFAULT_PORTS[parts.scheme] else f"{host}:{port}"
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {authority}", "Accept-Encoding: gzip, deflate"]
    for name, value in headers:
        if name.lower() in ("host", "content-length", "accept-encoding", "connection", "transfer-encoding"):
            continue
        if any(c in name + value for c in "\r\n\0") or not name or ":" in name:
            raise ValueError(f"header {name!r} has a character that cannot be sent")
        lines.append(f"{name}: {value}")
    lines.append("Content-Length: ")
    return Target(parts.scheme, parts.hostname, port, "\r\n".join(lines).encode("latin-1"))


def _wake(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)


class Response:
    """An upstream answer: status and headers first, then the body, whole (`read`) or as it comes (`readany`).

    The connection goes back to the pool as soon as the body is complete; `close`
    drops it when the body was not read to the end, so a half-read answer never reaches the pool.
    """

    __slots__ = ("_chunks", "_conn", "_decoder", "_error", "_loop", "_size", "_waiter", "complete", "headers", "status")

    def __init__(self, conn: _Connection, loop: asyncio.AbstractEventLoop) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.complete = False
        self._conn: _Connection | None = conn
        self._loop = loop
        self._chunks: list[bytes] = []
        self._size = 0
        self._decoder: zlib._Decompress | None = None
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[bool] | None = None

    @property
    def at_eof(self) -> bool:
        return self.complete and not self._chunks

    # -- fed by the connection --

    def _start(self, status: int, headers: dict[str, str]) -> None:
        self.status, self.headers = status, headers
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj()
        elif encoding not in ("identity", ""):
            raise HttpError(f"the upstream answered with an unsupported Content-Encoding: {encoding}")
        self._notify()

    def _feed(self, data: bytes) -> None:
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error as exc:
                raise HttpError(f"the upstream sent a body that does not decompress: {exc}") from None
        if not data:
            return
        self._chunks.append(data)
        self._size += len(data)
        if self._size > _HIGH_WATER and self._conn is not None:
            if self._size > _MAX_BODY:
                raise HttpError(f"the upstream answer is larger than {_MAX_BODY >> 20} MB")
            self._conn.pause()
        self._notify()

    def _end(self) -> None:
        if self._decoder is not None:
            tail = self._decoder.flush()
            if tail:
                self._chunks.append(tail)
            self._decoder = None
        self.complete = True
        self._conn = None
        self._notify()

    def _fail(self, error: BaseException) -> None:
        self._error = error
        self._conn = None
        self._notify()

    def _notify(self) -> None:
        if self._waiter is not None:
            _wake(self._waiter, True)

    # -- read by the caller --

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

    async def read(self, timeout: float = 600.0) -> bytes:
        """The whole (remaining) body; TimeoutError when nothing arrives for `timeout` seconds."""
        await self._arrival(timeout, whole=True)
        return self._take()

    async def _arrival(self, timeout: float, *, whole: bool) -> None:
        """Until the headers (or, with `whole`, the entire body) arrived; TimeoutError after `timeout` of silence."""
        while not (self.complete if whole else self.status):
            if self._error is not None:
                raise self._error
            if self._conn is not None:
                self._conn.resume()
            if not await self._wait(timeout):
                self.close()
                raise TimeoutError

    async def readany(self, timeout: float) -> bytes | None:
        """The next body bytes; b"" at the end; None when nothing came for `timeout` seconds."""
        while not self._chunks and not self.complete:
            if self._error is not None:
                raise self._error
            if self._conn is not None:
                self._conn.resume()
            if not await self._wait(timeout):
                return None
        return self._take()

    def _take(self) -> bytes:
        chunks = self._chunks
        if not chunks:
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        self._size = 0
        return data

    def close(self) -> None:
        """Done with this answer: a connection still reading an unfinished body is closed, not reused."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class _Connection(asyncio.Protocol):
    """One keep-alive connection; parses what arrives into the current `Response`."""

    def __init__(self, client: HttpClient, origin: tuple[str, str, int]) -> None:
        self._client = client
        self.origin = origin
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._header_list: list[tuple[bytes, bytes]] = []
        self._interim = False
        self._framed = False
        self._paused = False
        self.response: Response | None = None
        self.closed = False
        self.used = 0
        self.idle_since = 0.0
        self.parked = False

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        if self.response is None:  # nothing asked for: an idle connection must stay silent
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            self._abort(cause if isinstance(cause, HttpError) else HttpError(f"upstream answer not handled: {cause!r}"))
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._abort(HttpError(f"invalid HTTP answer from the upstream: {exc!r}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._client._forget(self)
        response, self.response = self.response, None
        if response is None:
            return
        if response.status and not self._framed and not response.complete:
            response._end()  # a body without length or chunking ends when the connection does
            return
        detail = f": {exc}" if exc else ""
        response._fail(Disconnected(f"the upstream closed the connection{detail}", received=bool(response.status)))

    # -- httptools callbacks --

    def on_message_begin(self) -> None:
        self._header_list = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_list.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:  # 100 Continue, 103 Early Hints: the real answer follows
            self._interim = True
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self._header_list}
        self._framed = "content-length" in headers or "transfer-encoding" in headers
        if self.response is not None:
            self.response._start(status, headers)

    def on_body(self, body: bytes) -> None:
        if self.response is not None and not self._interim:
            self.response._feed(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        response, self.response = self.response, None
        keep = self._parser.should_keep_alive()
        if response is not None:
            response._end()
        if keep and not self.closed:
            self.resume()
            self._client._park(self)
        else:
            self.close()

    # -- used by the client and the response --

    def send(self, target: Target, body: bytes) -> Response:
        assert self._transport is not None
        response = self.response = Response(self, self._client.loop)
        self.used += 1
        # No write-side flow control: a big request body waits in the transport's buffer, already in memory.
        self._transport.writelines((target.head, b"%d\r\n\r\n" % len(body), body))
        return response

    def pause(self) -> None:
        if not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self._transport is not None and not self.closed:
            self._paused = False
            self._transport.resume_reading()

    def _abort(self, error: HttpError) -> None:
        response, self.response = self.response, None
        if response is not None:
            response._fail(error)
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._client._forget(self)
            if self._transport is not None:
                self._transport.close()


class HttpClient:
    """Keep-alive connections per origin (scheme, host, port), most recently used first."""

    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        keepalive: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._all: set[_Connection] = set()
        self._ssl = ssl_context  # the system's default trust store unless given
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    async def request(self, target: Target, body: bytes, *, whole: bool = True) -> Response:
        """Send `body` to `target`; return once the headers (or, with `whole`, the entire body) arrived."""
        for fresh in (False, True):
            conn = None if fresh else self._take_idle(target.origin)
            if conn is None:
                conn = await self._connect(target)
            reused = conn.used > 0
            response = conn.send(target, body)
            try:
                await response._arrival(self.read_timeout, whole=whole)
            except Disconnected as exc:
                if reused and not exc.received and not fresh:
                    continue  # the server had closed this idle connection: once more on a new one
                raise
            except BaseException:
                response.close()
                raise
            return response
        raise AssertionError("unreachable")

    def _take_idle(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        oldest = self.loop.time() - self.keepalive
        while idle:
            conn = idle.pop()
            conn.parked = False
            if not conn.closed and conn.idle_since > oldest:
                return conn
            conn.close()
        return None

    async def _connect(self, target: Target) -> _Connection:
        loop = self.loop
        tls = None
        if target.scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            tls = self._ssl
        origin = f"{target.scheme}://{target.host}:{target.port}"
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, target.origin),
                    target.host,
                    target.port,
                    ssl=tls,
                    server_hostname=target.host if tls else None,
                )
        except OSError as exc:
            raise ConnectError(origin, exc) from None
        self._all.add(conn)
        return conn

    def _park(self, conn: _Connection) -> None:
        conn.idle_since = self.loop.time()
        conn.parked = True
        idle = self._idle.get(conn.origin)
        if idle is None:
            idle = self._idle[conn.origin] = []
        idle.append(conn)

    def _forget(self, conn: _Connection) -> None:
        self._all.discard(conn)
        if conn.parked:  # closed by the server while idle
            conn.parked = False
            self._idle[conn.origin].remove(conn)

    async def close(self) -> None:
        for conn in list(self._all):
            conn.close()
        self._idle.clear()
        self._all.clear()
