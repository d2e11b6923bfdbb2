"""An upstream on 127.0.0.1 that answers with raw bytes, for faults no HTTP server library would commit:
resets, stalls, heads too large, broken framing. A thread per connection runs the test's `behaviour`
once the request has been read; the connection is closed when it returns, so no upstream connection
outlives its request."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

Behaviour = Callable[[socket.socket], None]


def read_request(conn: socket.socket) -> bytes:
    """One request with a Content-Length body (what the proxy sends), or b"" when the peer closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return b""
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        piece = conn.recv(65536)
        if not piece:
            return b""
        body += piece
    return head + b"\r\n\r\n" + body


def wait_for_close(conn: socket.socket, limit: float = 30.0) -> None:
    """Hold the connection, sending nothing, until the peer closes it (or `limit` seconds pass)."""
    conn.settimeout(limit)
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass


def reset(conn: socket.socket) -> None:
    """Close with a TCP reset rather than an orderly end."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


class RawUpstream:
    def __init__(self) -> None:
        self.behaviour: Behaviour = lambda conn: None
        self.requests: list[bytes] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._threads: set[threading.Thread] = set()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> RawUpstream:
        self._acceptor.start()
        return self

    def stop_listening(self) -> None:
        """From now on connects are refused, as by a provider that is down."""
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._acceptor.join(5)

    def idle(self) -> bool:
        """No connection is being served."""
        return not any(thread.is_alive() for thread in list(self._threads))

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads = {t for t in self._threads if t.is_alive()} | {thread}
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            request = read_request(conn)
            if request:
                self.requests.append(request)
                self.behaviour(conn)
        except OSError:
            pass
        finally:
            if conn.fileno() != -1:
                conn.close()
