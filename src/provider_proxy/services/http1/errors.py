"""The upstream client's one exception tree; services.upstream turns these into client errors in one place.

    HttpError
      ConnectError        no connection: refused, unknown host, TLS failure, connect timeout, proxy unreachable
      ProxyRefused        the outbound proxy said no: CONNECT answered non-2xx, or 407 to a proxied http request
      ProxyConfigError    a proxy URL (the `proxy` parameter, HTTPS_PROXY or HTTP_PROXY) that cannot be used
      Disconnected        the server closed the connection before the answer was complete
      LimitError          a limit was reached; `.limit` names the HttpClient parameter, the message the size
        HeadersTooLarge   max_header_bytes: the response head, or framing without body data (chunk extensions, trailers)
        TooManyHeaders    max_headers
        BodyTooLarge      max_body_bytes, counted after decompression
        PoolTimeout       max_connections_per_origin: all busy for pool_timeout seconds
        DeadlineExceeded  the request's deadline (`deadline`, `total_timeout`); also a TimeoutError
    TimeoutError          (plain) read_timeout seconds without a byte

Messages name the proxy by its URL without credentials, never the credentials.
"""

from __future__ import annotations

from provider_proxy.utils.proxy import Proxy


def _size(n: int) -> str:
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


class HttpError(Exception):
    """The upstream connection failed or answered something that is not HTTP/1.1."""


class ConnectError(HttpError):
    """No connection could be made (refused, unknown host, TLS handshake failure, timeout, proxy unreachable).

    `proxy` is the proxy's URL without credentials when the connection went through one.
    """

    def __init__(self, origin: str, error: OSError, *, proxy: Proxy | None = None, reached_proxy: bool = False) -> None:
        detail = error.strerror or str(error) or type(error).__name__
        if proxy is None:
            message = f"cannot connect to {origin}: {detail}"
        elif reached_proxy:
            message = f"cannot connect to {origin} through proxy {proxy.url}: {detail}"
        else:
            message = f"cannot connect to proxy {proxy.url} (for {origin}): {detail}"
        super().__init__(message)
        self.error = error
        self.proxy = proxy.url if proxy is not None else None


class ProxyRefused(HttpError):
    """The outbound proxy refused: its answer to CONNECT was not 2xx, or it asked for credentials (407)."""

    def __init__(self, proxy: Proxy, origin: str, status: int, reason: str) -> None:
        hint = ""
        if status == 407:
            hint = " (wrong proxy credentials)" if proxy.authorization else " (the proxy URL needs user:password@)"
        super().__init__(f"proxy {proxy.url} refused the connection to {origin}: {status} {reason}{hint}".rstrip())
        self.proxy = proxy.url
        self.status = status


class ProxyConfigError(HttpError, ValueError):
    """A proxy URL that cannot be used; the message names where it came from, never its credentials."""


class Disconnected(HttpError):
    """The server closed the connection before the answer was complete."""

    def __init__(self, message: str, *, received: bool) -> None:
        super().__init__(message)
        self.received = received


class LimitError(HttpError):
    """A limit on what the upstream may send or how long it may take; `limit` is the parameter's name."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(f"{message} ({limit})")
        self.limit = limit


class HeadersTooLarge(LimitError):
    def __init__(self, limit: int, *, framing: bool = False) -> None:
        if framing:
            message = f"the upstream sent more than {_size(limit)} of chunk framing or trailers without body data"
        else:
            message = f"the upstream's response headers exceed {_size(limit)}"
        super().__init__(message, "max_header_bytes")


class TooManyHeaders(LimitError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the upstream sent more than {limit} response headers", "max_headers")


class BodyTooLarge(LimitError):
    def __init__(self, limit: int, *, decoded: bool) -> None:
        after = " after decompression" if decoded else ""
        super().__init__(f"the upstream's answer is larger than {_size(limit)}{after}", "max_body_bytes")


class PoolTimeout(LimitError):
    def __init__(self, origin: str, limit: int, waited: float) -> None:
        message = f"no connection to {origin} came free within {waited:g} s: all {limit} allowed are busy"
        super().__init__(message, "max_connections_per_origin")


class DeadlineExceeded(LimitError, TimeoutError):
    def __init__(self, stage: str) -> None:
        super().__init__(f"the request's deadline passed {stage}", "deadline")
