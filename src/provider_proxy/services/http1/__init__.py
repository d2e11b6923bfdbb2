"""The HTTP/1.1 client behind every upstream call: keep-alive connections per origin, httptools parsing.

Why not a general client: under load aiohttp's per-request machinery (request and response objects,
header merging, connector bookkeeping) was the largest block of the proxy's event-loop time, about 30%
(bench/RESULTS.md). An upstream call here is always the same shape, so the request line and headers
are prepared once per URL (`Target`) and a request is one `writelines` of head and body; the answer
is parsed by llhttp (httptools, the parser uvicorn uses) straight into a `Response`.

What it does: http and https (the default certificate store), keep-alive with an idle limit,
content-length, chunked and close-delimited bodies, gzip/deflate bodies, interim 1xx answers skipped,
read-side flow control for slow stream consumers, a connect timeout, a read timeout (no byte for
`read_timeout` seconds) and a deadline per request. Connections are opened with happy eyeballs (IPv6
and IPv4 raced: `dial`) and, where HTTPS_PROXY / HTTP_PROXY / NO_PROXY or the `proxy` parameter say so
(`proxy`), through an HTTP proxy: https targets through a CONNECT tunnel, http targets as absolute-form
requests to the proxy (as curl and requests do: proxies commonly refuse CONNECT to ports other than
443). A reused connection that the server had already closed is replaced once, at once, when it failed
before any byte of an answer. What it does not: redirects, cookies, HTTP/2, TLS to the proxy itself.

Limits: everything an upstream sends is bounded. The response head (`max_header_bytes` in all,
`max_headers` lines; interim 1xx heads count too), framing that carries no body data (chunk
extensions, trailers: `max_header_bytes` between two pieces of body), the body after decompression
(`max_body_bytes`: compressed data is inflated in steps with zlib's `max_length`, only as far as the
reader has room, and the rest waits compressed, so a compression bomb never grows past the cap),
silence (`read_timeout`) and the whole request (`deadline`, or `total_timeout` from the start), and
connections per origin (`max_connections_per_origin`: idle ones are reused first, then new ones
opened, then requests wait in line, first come first served, at most `pool_timeout`).

Modules: `target` (the prepared request head), `response`, `connection` (one connection's state
machine and an origin's pool), `client`, `dial` (happy eyeballs, CONNECT), `proxy` (proxy URLs and the
environment, pure), `errors` (the exception tree; every failure is mapped to it in `client` and
`connection`).
"""

from provider_proxy.services.http1.client import HttpClient
from provider_proxy.services.http1.errors import (
    BodyTooLarge,
    ConnectError,
    DeadlineExceeded,
    Disconnected,
    HeadersTooLarge,
    HttpError,
    LimitError,
    PoolTimeout,
    ProxyConfigError,
    ProxyRefused,
    TooManyHeaders,
)
from provider_proxy.services.http1.response import Response
from provider_proxy.services.http1.target import Target, prepare

__all__ = [
    "BodyTooLarge",
    "ConnectError",
    "DeadlineExceeded",
    "Disconnected",
    "HeadersTooLarge",
    "HttpClient",
    "HttpError",
    "LimitError",
    "PoolTimeout",
    "ProxyConfigError",
    "ProxyRefused",
    "Response",
    "Target",
    "TooManyHeaders",
    "prepare",
]
