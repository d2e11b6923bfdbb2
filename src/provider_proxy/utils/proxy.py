"""Outbound proxies for the upstream client: proxy URLs, HTTPS_PROXY / HTTP_PROXY / NO_PROXY, one choice per origin.

Pure: no I/O and no reads of `os.environ` here; `HttpClient` hands in the environment once and asks
`ProxyRules.select` once per origin, then keeps the answer. The rules follow curl and requests where
they agree:

- `https_proxy` serves https targets and `http_proxy` http targets; the lowercase name wins over the
  uppercase one; an empty value counts as unset. `HTTP_PROXY` in capitals is ignored when
  `REQUEST_METHOD` is set (a CGI environment, where a client's `Proxy:` header arrives as HTTP_PROXY).
- NO_PROXY (either case) lists exemptions separated by commas or spaces: `*` exempts every host;
  `example.com`, `.example.com` and `*.example.com` exempt the domain and every name under it;
  `host:port` only that port; IP addresses and CIDR ranges (`10.0.0.0/8`, `::1`, `[::1]:8080`) match
  targets written as IP addresses (no DNS lookup). Loopback is not exempt unless listed, as with curl.
- A proxy URL is `http://[user:password@]host[:port]` (port 80 when left out; `host:port` alone means
  http). Credentials are percent-decoded and sent as `Proxy-Authorization: Basic`; they never appear in
  `str`, `repr` or an error message. TLS to the proxy itself (`https://` proxies), SOCKS and ALL_PROXY are
  not supported, and a URL using them is refused with a message naming where it came from.
- An explicit proxy URL (per client; the per-provider `proxy` setting) serves every origin of that
  client, and the environment is then not consulted at all.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple
from urllib.parse import unquote, urlsplit

_ENV_NAMES: Final = {"https": "https_proxy", "http": "http_proxy"}
_USERINFO: Final = re.compile(r"^([^/]*//)?[^/@]*@")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def redact_url(url: str) -> str:
    """`url` with any `user:password@` replaced by `***@`, for messages."""
    return _USERINFO.sub(lambda match: f"{match.group(1) or ''}***@", url.strip(), count=1)


@dataclass(frozen=True, slots=True, repr=False)
class Proxy:
    """An HTTP forward proxy: where it listens, and the header line that authenticates to it (if any)."""

    host: str
    port: int
    authorization: bytes = field(default=b"", compare=False)  # b"Proxy-Authorization: Basic ...\r\n" or b""

    @property
    def url(self) -> str:
        """The proxy's URL without credentials: safe for messages and logs."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"Proxy({self.url!r}{', with credentials' if self.authorization else ''})"


def parse_proxy(url: str, source: str = "proxy URL") -> Proxy:
    """The proxy at `url`; ValueError naming `source` (a setting or variable) when it cannot be used."""
    text = url.strip()
    shown = f"{source}={redact_url(text)!r}"
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port or 80
    except ValueError:
        raise ValueError(f"{shown} is not a valid proxy URL (expected http://host:port)") from None
    if parts.scheme.lower() != "http":
        raise ValueError(
            f"{shown}: only http:// proxies are supported (https targets are tunnelled with CONNECT through them); "
            f"{parts.scheme}:// is not"
        )
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{shown} is not a valid proxy URL (expected http://host:port)")
    authorization = b""
    if parts.username is not None or parts.password is not None:
        credentials = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()
        authorization = b"Proxy-Authorization: Basic " + base64.b64encode(credentials) + b"\r\n"
    return Proxy(parts.hostname, port, authorization)


class _Exemption(NamedTuple):
    """One NO_PROXY entry: a domain (with its subdomains) or an IP network, optionally one port."""

    domain: str | None
    network: IPNetwork | None
    port: int | None


def parse_no_proxy(value: str) -> tuple[_Exemption, ...] | None:
    """The exemptions in a NO_PROXY value; None when it is `*` (every host is exempt)."""
    exemptions: list[_Exemption] = []
    for raw in re.split(r"[,\s]+", value.strip().lower()):
        if raw == "*":
            return None
        host, port = _split_port(raw)
        if not host:
            continue
        try:
            exemptions.append(_Exemption(None, ipaddress.ip_network(host, strict=False), port))
        except ValueError:
            domain = host.removeprefix("*").lstrip(".").rstrip(".")
            if domain:
                exemptions.append(_Exemption(domain, None, port))
    return tuple(exemptions)


def _split_port(entry: str) -> tuple[str, int | None]:
    """`host[:port]`, `[v6]:port`, or a bare IPv6 address or network; a port that is not a number is ignored."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, int(port) if port.isdigit() else None
    return entry, None


def is_exempt(exemptions: tuple[_Exemption, ...] | None, host: str, port: int) -> bool:
    """Whether NO_PROXY's `exemptions` cover `host:port`."""
    if exemptions is None:
        return True
    host = host.lower().strip("[]").rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for exemption in exemptions:
        if exemption.port is not None and exemption.port != port:
            continue
        if exemption.network is not None:
            if address is not None and address.version == exemption.network.version and address in exemption.network:
                return True
        elif exemption.domain is not None and (host == exemption.domain or host.endswith("." + exemption.domain)):
            return True
    return False


class ProxyRules:
    """Which proxy serves an origin: an explicit proxy for everything, or what the environment says."""

    def __init__(self, proxy: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        self._fixed = parse_proxy(proxy) if proxy is not None else None
        # Per scheme: the variable's name and value, parsed when an origin first needs it.
        self._env: dict[str, tuple[str, str]] = {}
        self._exemptions: tuple[_Exemption, ...] | None = ()
        if self._fixed is None and environ is not None:
            for scheme, name in _ENV_NAMES.items():
                found = _lookup(environ, name, upper=scheme != "http" or "REQUEST_METHOD" not in environ)
                if found is not None:
                    self._env[scheme] = found
            no_proxy = _lookup(environ, "no_proxy", upper=True)
            if no_proxy is not None:
                self._exemptions = parse_no_proxy(no_proxy[1])

    @property
    def active(self) -> bool:
        """Whether any origin could go through a proxy."""
        return self._fixed is not None or bool(self._env)

    def select(self, scheme: str, host: str, port: int) -> Proxy | None:
        """The proxy for this origin, or None to connect directly; ValueError for an unusable proxy variable."""
        if self._fixed is not None:
            return self._fixed
        found = self._env.get(scheme)
        if found is None or is_exempt(self._exemptions, host, port):
            return None
        return parse_proxy(found[1], found[0])

    def __repr__(self) -> str:
        if self._fixed is not None:
            return f"ProxyRules({self._fixed!r})"
        return f"ProxyRules(from the environment: {', '.join(name for name, _ in self._env.values()) or 'none'})"


def _lookup(environ: Mapping[str, str], name: str, *, upper: bool) -> tuple[str, str] | None:
    for candidate in (name, name.upper()) if upper else (name,):
        value = environ.get(candidate, "").strip()
        if value:
            return candidate, value
    return None
