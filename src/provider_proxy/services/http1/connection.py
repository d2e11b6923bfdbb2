"""One keep-alive connection as a small state machine (active, idle, closed), and one origin's pool of them.

The connection parses what arrives with httptools (llhttp) into the current `Response` and bounds what
the upstream may send before any body: `max_header_bytes` of head (interim 1xx heads included) or of
framing between two pieces of body (chunk extensions, trailers), and `max_headers` lines.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from typing import Final, Protocol, cast

import httptools

from provider_proxy.services.http1.errors import (
    Disconnected,
    HeadersTooLarge,
    HttpError,
    ProxyRefused,
    TooManyHeaders,
)
from provider_proxy.services.http1.response import Response
from provider_proxy.services.http1.target import Target, absolute_form
from provider_proxy.utils.proxy import Proxy


class Owner(Protocol):
    """What a connection needs of its client (`client.HttpClient`): limits, the loop, and where it goes
    when its answer is done or it closes. A protocol, so the two modules do not import each other."""

    max_header_bytes: int
    max_headers: int
    max_body_bytes: int

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    def _park(self, conn: Connection) -> None: ...

    def _forget(self, conn: Connection, *, was_idle: bool) -> None: ...


class State(enum.Enum):
    ACTIVE = "active"  # serving one request, or handed to one
    IDLE = "idle"  # in its origin's pool, waiting for the next request
    CLOSED = "closed"


ACTIVE: Final = State.ACTIVE
IDLE: Final = State.IDLE
CLOSED: Final = State.CLOSED


class Connection(asyncio.Protocol):
    """One keep-alive connection; parses what arrives into the current `Response`."""

    def __init__(self, client: Owner, pool: Pool) -> None:
        self._client = client
        self.pool = pool
        self._absolute = pool.absolute  # plain http through a proxy: the whole URL in the request line
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._header_list: list[tuple[bytes, bytes]] = []
        # Bytes parsed since the last piece of body: a head (with interim ones), chunk framing, trailers.
        self._fed = 0
        self._max_head = client.max_header_bytes
        self._max_headers = client.max_headers
        self._interim = False
        self._framed = False
        self._paused = False
        self.response: Response | None = None
        self.state = ACTIVE
        self.used = 0
        self.idle_since = 0.0

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        if self.response is None:  # nothing asked for: an idle connection must stay silent
            self.close()
            return
        self._fed += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            self._abort(cause if isinstance(cause, HttpError) else HttpError(f"upstream answer not handled: {cause!r}"))
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._abort(HttpError(f"invalid HTTP answer from the upstream: {exc!r}"))
        else:
            if self._fed > self._max_head and self.response is not None:
                self._abort(HeadersTooLarge(self._max_head, framing=self.response.status > 0))

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed()
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
        header_list = self._header_list
        if len(header_list) > self._max_headers:
            raise TooManyHeaders(self._max_headers)
        # `_fed` counts every byte of the reads so far (this one's body too): the exact sum only when it is over.
        if self._fed > self._max_head and sum(len(n) + len(v) + 4 for n, v in header_list) > self._max_head:
            raise HeadersTooLarge(self._max_head)
        if status < 200:  # 100 Continue, 103 Early Hints: the real answer follows, its head counted with this one
            self._interim = True
            return
        self._fed = 0
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in header_list}
        self._framed = "content-length" in headers or "transfer-encoding" in headers
        if status == 407 and self._absolute is not None:  # from the proxy: origins do not send 407
            raise ProxyRefused(self._absolute, self.pool.origin, status, "Proxy Authentication Required")
        if self.response is not None:
            self.response._start(status, headers)

    def on_body(self, body: bytes) -> None:
        self._fed = 0
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
        if keep and self.state is not CLOSED:
            self.resume()
            self._client._park(self)
        else:
            self.close()

    # -- used by the client and the response --

    def send(self, target: Target, body: bytes, *, whole: bool, deadline: float | None) -> Response:
        assert self._transport is not None
        client = self._client
        response = self.response = Response(self, client.loop, client.max_body_bytes, whole, deadline)
        self.state = ACTIVE
        self.used += 1
        self._fed = 0
        head = target.head if self._absolute is None else absolute_form(target, self._absolute)
        # No write-side flow control: a big request body waits in the transport's buffer, already in memory.
        self._transport.writelines((head, b"%d\r\n\r\n" % len(body), body))
        return response

    def pause(self) -> None:
        if not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self._transport is not None and self.state is not CLOSED:
            self._paused = False
            self._transport.resume_reading()

    def _abort(self, error: HttpError) -> None:
        response, self.response = self.response, None
        if response is not None:
            response._fail(error)
        self.close()

    def _closed(self) -> None:
        """Now closed: the pool forgets it (once) and its slot comes free."""
        if self.state is not CLOSED:
            was_idle = self.state is IDLE
            self.state = CLOSED
            self._client._forget(self, was_idle=was_idle)

    def close(self) -> None:
        if self.state is not CLOSED:
            self._closed()
            if self._transport is not None:
                self._transport.close()


class Pool:
    """One origin's connections: the idle ones (most recently used last), how many are open, who waits in line."""

    __slots__ = ("absolute", "idle", "open", "origin", "proxy", "waiters")

    def __init__(self, origin: str, proxy: Proxy | None, *, tunnel: bool) -> None:
        self.origin = origin  # scheme://host:port, for messages
        self.proxy = proxy
        self.absolute = None if tunnel else proxy  # plain http through a proxy: absolute-form requests
        self.idle: list[Connection] = []
        self.open = 0  # connecting, active and idle: at most max_connections_per_origin
        # Requests waiting for a connection, in arrival order: each gets one handed over, or None for a free slot.
        self.waiters: deque[asyncio.Future[Connection | None]] = deque()
