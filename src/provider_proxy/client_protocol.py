"""Client connections: uvicorn's httptools protocol with limits on what one client can hold.

uvicorn closes a keep-alive connection left idle for `timeout_keep_alive` seconds once it has answered,
but it waits forever for a connection that never sends a request, it lets a request's head and body
arrive as slowly as the client likes (a byte every few seconds holds a connection: "slowloris"), and
httptools takes a head of any size. Here:

- a new connection that sends nothing is closed after the idle timeout, like one between requests;
- a request's head must be complete within `header_timeout` seconds of its first read, its body
  within `body_timeout` seconds of the head: else a 408 and the connection is closed;
- a head of more than `max_header_bytes` (request line and header lines) or more than `max_headers`
  header lines gets a 431, checked while the head arrives, so it is never buffered past the limit
  by more than one read;
- a request that is not valid HTTP gets its 400 in Anthropic's error shape like every other error.

The request path pays nothing for this when a request arrives in one read, as nearly all do: a timer is
armed only when a read ends inside a request, at most one per phase (head, body) of a request.
A refused connection reads and drops what the client still sends for `LINGER` seconds, so that the
answer reaches the client (closing with unread data would reset the connection), then closes.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from provider_proxy.errors import ProxyError, error_body
from provider_proxy.models.anthropic_output import ErrorType
from provider_proxy.services.usage.record import new_request_id

logger = logging.getLogger(__name__)

# Seconds a refused connection stays open, dropping what arrives, before it is closed.
LINGER: Final = 1.0


@dataclass(frozen=True, slots=True)
class ClientLimits:
    header_timeout: float = 20.0
    body_timeout: float = 120.0
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100


class _Phase(enum.Enum):
    IDLE = "idle"  # before a request, or between two
    HEAD = "head"  # the request line and headers are arriving
    BODY = "body"  # the head is complete, the body is arriving
    CLOSING = "closing"  # refused: what arrives is dropped until the connection closes


# The members as module globals: on Python 3.11 `_Phase.IDLE` costs ~0.2 us a lookup, and the phase is
# read a dozen times per request.
_IDLE: Final = _Phase.IDLE
_HEAD: Final = _Phase.HEAD
_BODY: Final = _Phase.BODY
_CLOSING: Final = _Phase.CLOSING


class ClientProtocol(HttpToolsProtocol):
    """One client connection: uvicorn's protocol, a phase, and the one deadline of that phase."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ClientLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._phase = _IDLE
        self._head_bytes = 0  # bytes read since the request began, while its head was incomplete
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn arms its idle timer after an answer only: a connection that never asks is idle too.
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        phase = self._phase
        if phase is _CLOSING:
            return
        if phase is not _BODY:
            self._head_bytes += len(data)
        super().data_received(data)
        phase = self._phase
        if phase is _IDLE or phase is _CLOSING:
            return  # the common case: the request (or all of them) came whole in this read
        if phase is _HEAD and self._head_bytes > self.limits.max_header_bytes:
            self._refuse(431, "invalid_request_error", self._head_too_large())
        elif self._deadline is None:
            timeout = self.limits.header_timeout if phase is _HEAD else self.limits.body_timeout
            self._deadline = self.loop.call_later(timeout, self._deadline_passed)

    # Parser callbacks: each one keeps the phase, and none acts for a refused request.

    def on_message_begin(self) -> None:
        if self._phase is _CLOSING:
            return
        super().on_message_begin()
        self._phase = _HEAD

    def on_headers_complete(self) -> None:
        if self._phase is _CLOSING:
            return
        if self._deadline is not None:
            self._disarm()
        limits = self.limits
        if len(self.headers) > limits.max_headers:
            message = f"the request has more than {limits.max_headers} header lines (CLIENT_MAX_HEADERS)"
            self._refuse(431, "invalid_request_error", message)
            return
        # The bytes read may include body bytes that came in the same read: then measure the head itself.
        if self._head_bytes > limits.max_header_bytes and self._head_size() > limits.max_header_bytes:
            self._refuse(431, "invalid_request_error", self._head_too_large())
            return
        self._phase = _BODY
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._phase is not _CLOSING:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._phase is _CLOSING:
            return
        if self._deadline is not None:
            self._disarm()
        self._phase = _IDLE
        self._head_bytes = 0
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        # The connection now belongs to the WebSocket protocol (whose own limits apply).
        self._disarm()
        self._phase = _IDLE
        super().handle_websocket_upgrade()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request the parser refused, in Anthropic's shape."""
        if self._phase is not _CLOSING:
            self._refuse(400, "invalid_request_error", f"the request is not valid HTTP/1.1 ({msg.rstrip('.')})")

    # Limits

    def _deadline_passed(self) -> None:
        self._deadline = None
        limits = self.limits
        if self._phase is _HEAD:
            message = f"the request headers did not arrive within {limits.header_timeout:g}s (CLIENT_HEADER_TIMEOUT)"
            self._refuse(408, "timeout_error", message)
        elif self._phase is _BODY:
            if self.flow.read_paused:  # the server is not reading (the app has not taken the body yet)
                self._deadline = self.loop.call_later(limits.body_timeout, self._deadline_passed)
                return
            message = f"the request body did not arrive within {limits.body_timeout:g}s (CLIENT_BODY_TIMEOUT)"
            self._refuse(408, "timeout_error", message)

    def _head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _head_too_large(self) -> str:
        return (
            f"the request line and headers exceed {self.limits.max_header_bytes} bytes (CLIENT_MAX_HEADER_BYTES); "
            "send fewer or shorter headers"
        )

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _refuse(self, status: int, error_type: ErrorType, message: str) -> None:
        """Answer `status` with an Anthropic error (unless an answer is under way), then close."""
        answer = self._may_answer()
        self._phase = _CLOSING
        self._disarm()
        self._unset_keepalive_if_required()
        if self.transport.is_closing():
            return
        request_id = new_request_id()
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        logger.warning("%s %s: %s; closing the connection", request_id, peer, message)
        if answer:
            self.transport.write(self._render(status, error_type, f"{message}.", request_id))
        self.flow.resume_reading()  # keep reading (and dropping) so the close is not a reset
        self.loop.call_later(LINGER, self.transport.close)

    def _may_answer(self) -> bool:
        """No other answer is being written on this connection."""
        cycle: RequestResponseCycle | None = self.cycle  # None before the first request
        if cycle is None:
            return True
        if self._phase is _BODY:  # the cycle is this request's, unless requests were pipelined
            return not cycle.response_started and not self.pipeline
        return cycle.response_complete  # the cycle is the previous request's

    def _render(self, status: int, error_type: ErrorType, message: str, request_id: str) -> bytes:
        body = error_body(ProxyError(error_type, message, status=status))
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
        head += [name + b": " + value for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/json",
            b"content-length: " + str(len(body)).encode(),
            b"request-id: " + request_id.encode(),
            b"connection: close",
        ]
        return b"\r\n".join(head) + b"\r\n\r\n" + body
