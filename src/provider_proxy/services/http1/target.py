"""A request's fixed part: one URL's request line and headers, rendered once and written as they are."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, urlsplit

from provider_proxy.utils.proxy import Proxy

DEFAULT_PORTS: Final = {"http": 80, "https": 443}


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


def host_port(host: str, port: int) -> str:
    """`host:port`, an IPv6 address in brackets: the CONNECT target, and origins in messages."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def host_header(scheme: str, host: str, port: int) -> str:
    """The Host header's value: the port only when it is not the scheme's default."""
    if port != DEFAULT_PORTS[scheme]:
        return host_port(host, port)
    return f"[{host}]" if ":" in host else host


def prepare(method: str, url: str, headers: Iterable[tuple[str, str]]) -> Target:
    """Parse `url` and render the request head; rejects header names or values that would split it."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    authority = host_header(parts.scheme, parts.hostname, port)
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


def absolute_form(target: Target, proxy: Proxy) -> bytes:
    """The head for a plain-http request through a proxy: the whole URL in the request line, then its credentials."""
    head = target.head
    line_end = head.index(b"\r\n")
    method, _, rest = head[:line_end].partition(b" ")
    authority = host_header(target.scheme, target.host, target.port).encode("latin-1")
    return b"%s http://%s%s\r\n%s%s" % (method, authority, rest, proxy.authorization, head[line_end + 2 :])
