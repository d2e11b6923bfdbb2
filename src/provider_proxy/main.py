"""The app factory: settings in, ASGI app out. Nothing happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from provider_proxy.api.dashboard import dashboard_routes
from provider_proxy.api.routes import (
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
from provider_proxy.errors import ProxyError
from provider_proxy.services.routing import Router
from provider_proxy.services.upstream import UpstreamClient
from provider_proxy.services.usage.recorder import UsageRecorder

_HTTP_ERRORS = {404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error_type = _HTTP_ERRORS.get(exc.status_code, "invalid_request_error")
    message = f"{request.method} {request.url.path}: {exc.detail}"
    if exc.status_code == 404:
        message += " (this proxy serves POST /v1/messages, POST /v1/messages/count_tokens and GET /)"
    return error_response(ProxyError(error_type, message, status=exc.status_code), new_request_id())


def create_app(settings: Settings, config: ProxyConfig | None = None) -> Starlette:
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

    routes = [
        Route("/", guarded(health, auth=False), methods=["GET", "HEAD"]),
        Route("/health", guarded(health, auth=False), methods=["GET", "HEAD"]),
        Route("/v1/messages", guarded(messages, record=True), methods=["POST"]),
        Route("/v1/messages/count_tokens", guarded(count_tokens), methods=["POST"]),
        *dashboard_routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    app.state.proxy = state
    return app
