"""What a request handler works with: the app's long-lived services (`ProxyState`) and, per request,
the record it fills in (`services.usage.record.RequestRecord`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from provider_proxy.config.proxy_config import ProxyConfig
from provider_proxy.services.admission import Gate
from provider_proxy.services.dispatch import Dispatcher
from provider_proxy.services.keyring import KeyRing
from provider_proxy.services.limits.limiter import Limiter
from provider_proxy.services.recorder import Recorder
from provider_proxy.services.routing import Router
from provider_proxy.services.token_counting import TokenCounter
from provider_proxy.services.upstream import UpstreamClient
from provider_proxy.services.usage.record import RequestRecord
from provider_proxy.services.usage.report import Pricing
from provider_proxy.services.web_search.loop import WebSearch


@dataclass(slots=True)
class Lifecycle:
    """Where the process is in its life: `draining` from the first SIGTERM (readiness answers 503)."""

    draining: bool = False


@dataclass(slots=True)
class ProxyState:
    config: ProxyConfig
    router: Router
    upstream: UpstreamClient
    dispatcher: Dispatcher
    recorder: Recorder
    tokens: TokenCounter
    keys: KeyRing
    limiter: Limiter
    gate: Gate
    pricing: Pricing
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    # Anthropic's web search run by the proxy (`[server_tools.web_search]`); None: the tool is left out.
    web_search: WebSearch | None = None


class Answer(Protocol):
    """What a handler returns: an ASGI response (Starlette's, or the event stream)."""

    status_code: int
    raw_headers: list[tuple[bytes, bytes]]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


_HEADERS: Final = "provider_proxy.headers"


def header(request: Request, name: bytes, default: str = "") -> str:
    """A request header by its lower-case name."""
    value = raw_headers(request).get(name)
    return default if value is None else value.decode("latin-1")


def raw_headers(request: Request) -> dict[bytes, bytes]:
    """The request's headers by lower-case name. The raw list becomes a dict once per request, in C:
    Starlette's `request.headers.get` walks the list in Python on every call."""
    scope = request.scope
    headers: dict[bytes, bytes] | None = scope.get(_HEADERS)
    if headers is None:
        headers = scope[_HEADERS] = dict(scope["headers"])
    return headers


Handler = Callable[[Request, ProxyState, RequestRecord], Awaitable[Answer]]
