"""The app factory: settings in, ASGI app out. Nothing happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from provider_proxy.api.handlers import (
    ProxyState,
    count_tokens,
    error_response,
    guarded,
    health,
    messages,
    new_request_id,
)
from provider_proxy.config.proxy_config import ProxyConfig, build_config
from provider_proxy.config.settings import Settings
from provider_proxy.dashboard.routes import dashboard_routes
from provider_proxy.errors import ProxyError
from provider_proxy.services.recorder import UsageRecorder
from provider_proxy.services.routing import Router
from provider_proxy.services.upstream import UpstreamClient

_HTTP_ERRORS = {404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error_type = _HTTP_ERRORS.get(exc.status_code, "invalid_request_error")
    message = f"{request.method} {request.url.path}: {exc.detail}"
    if exc.status_code == 404:
        message += " (this proxy serves POST /v1/messages, POST /v1/messages/count_tokens and GET /)"
    return error_response(ProxyError(error_type, message, status=exc.status_code), new_request_id())


def create_app(settings: Settings, config: ProxyConfig | None = None) -> ProxyApp:
    config = config or build_config(settings)
    state = ProxyState(
        config=config,
        router=Router(config),
        upstream=UpstreamClient(settings, config.secrets),
        recorder=UsageRecorder.from_settings(settings),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.upstream.start()
        await state.recorder.start()
        try:
            yield
        finally:
            await state.upstream.close()
            # After the server has finished its requests: drain the usage queue into the store.
            await state.recorder.close()

    hot = {
        "/v1/messages": guarded(messages, record=True),
        "/v1/messages/count_tokens": guarded(count_tokens),
    }
    routes = [
        Route("/", guarded(health, auth=False), methods=["GET", "HEAD"]),
        Route("/health", guarded(health, auth=False), methods=["GET", "HEAD"]),
        *(Route(path, endpoint, methods=["POST"]) for path, endpoint in hot.items()),
        *dashboard_routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    app.state.proxy = state
    return ProxyApp(app, hot)


class ProxyApp:
    """The ASGI app: POSTs to the API endpoints go straight to their handler, everything else
    (health, dashboard, metrics, lifespan, unknown paths) through Starlette.

    The API handlers render every outcome themselves (`guarded`), so Starlette's middleware and
    routing layers add nothing for them but time on the path every Claude Code request takes.
    """

    def __init__(self, app: Starlette, hot: dict[str, Callable[[Request], Awaitable[Response]]]) -> None:
        self.app = app
        self.state = app.state
        self._hot = hot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self._hot.get(scope["path"])
            if endpoint is not None:
                scope["app"] = self.app
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
