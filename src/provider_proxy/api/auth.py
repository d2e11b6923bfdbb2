"""Who is asking: the client key check, shared by the API and the dashboard.

A key is accepted as `x-api-key` (what Claude Code sends for ANTHROPIC_API_KEY) or as
`Authorization: Bearer` (ANTHROPIC_AUTH_TOKEN); the dashboard also takes `?key=` for a browser's
address bar. With no key configured at all, everyone is let in (the proxy then listens on loopback
only, unless told otherwise: `Settings.check_open`).
"""

from __future__ import annotations

from starlette.requests import Request

from provider_proxy.api.context import raw_headers
from provider_proxy.config.keys import ClientKey
from provider_proxy.errors import ProxyError
from provider_proxy.services.keyring import KeyRing


def presented_key(request: Request, *, query: bool = False) -> str:
    headers = raw_headers(request)
    key = headers.get(b"x-api-key")
    if key:
        return key.decode("latin-1")
    bearer = headers.get(b"authorization", b"")
    if bearer[:7].lower() == b"bearer ":
        return bearer[7:].strip().decode("latin-1")
    return request.query_params.get("key", "") if query else ""


def authenticate(request: Request, keys: KeyRing) -> ClientKey | None:
    """The caller's key; None when no key is configured. Raises 401 for a missing or unknown key."""
    if not keys.required:
        return None
    key = keys.find(presented_key(request))
    if key is None:
        raise ProxyError(
            "authentication_error",
            "invalid x-api-key: this proxy requires a client key (PROXY_API_KEY, or one made with "
            "`provider-proxy keys create NAME`); send it as x-api-key or ANTHROPIC_AUTH_TOKEN",
        )
    return key


def may_administer(request: Request, keys: KeyRing) -> bool:
    """Whether the request may see the dashboard and /metrics: PROXY_API_KEY or an `admin` key (anyone
    when no key is configured)."""
    if not keys.required:
        return True
    key = keys.find(presented_key(request, query=True))
    return key is not None and key.admin
