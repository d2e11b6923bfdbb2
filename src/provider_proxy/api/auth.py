"""The client key check (PROXY_API_KEY), shared by the API and the dashboard."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from provider_proxy.api.context import header
from provider_proxy.config.proxy_config import ProxyConfig
from provider_proxy.errors import ProxyError


def has_proxy_key(request: Request, config: ProxyConfig, *, query: bool = False) -> bool:
    """True when no PROXY_API_KEY is set or the request presents it: as x-api-key, as a Bearer token,
    or (with `query`, for a browser address bar) as `?key=`."""
    expected = config.settings.proxy_api_key
    if expected is None:
        return True
    bearer = header(request, b"authorization")
    presented = (
        header(request, b"x-api-key")
        or (bearer[7:].strip() if bearer.lower().startswith("bearer ") else "")
        or (request.query_params.get("key", "") if query else "")
    )
    return hmac.compare_digest(presented.encode(), expected.get_secret_value().encode())


def authenticate(request: Request, config: ProxyConfig) -> None:
    if not has_proxy_key(request, config):
        raise ProxyError(
            "authentication_error",
            "invalid x-api-key: this proxy requires the key set in PROXY_API_KEY "
            "(send it as x-api-key or ANTHROPIC_AUTH_TOKEN)",
        )
