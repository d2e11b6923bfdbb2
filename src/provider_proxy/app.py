"""The app factory: settings in, ASGI app out. Nothing happens at import time.

The API endpoints (`/v1/messages`, `/v1/messages/count_tokens`, health) are served by `ProxyApp`
itself, without Starlette's middleware and routing layers, which would add nothing for them but time
on the path every Claude Code request takes. Each request gets one `RequestRecord`; every outcome is
rendered once (`_answer`), and when the response has been sent (a stream included) the record is
written once (`Recorder.finish`). Everything else (dashboard, metrics, lifespan, unknown paths) goes
through Starlette.

A client that goes away while its handler works (waiting for the upstream, most of the time) cancels
the handler, and with it the upstream call (`api.client_watch`): the server drops writes to a gone
client silently, so nothing else would notice before the upstream answered. From the first byte of a
stream on, the stream response watches for itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from provider_proxy.api.auth import authenticate
from provider_proxy.api.client_watch import ClientWatch, ClientWatches
from provider_proxy.api.context import Answer, Handler, ProxyState
from provider_proxy.api.handlers import count_tokens, health, messages, ready
from provider_proxy.api.model_list import PREFIX as MODELS_PREFIX
from provider_proxy.api.model_list import get_model, list_models
from provider_proxy.api.openapi import openapi
from provider_proxy.api.responses import error_response
from provider_proxy.config.proxy_config import ProxyConfig, build_config
from provider_proxy.config.settings import Settings
from provider_proxy.dashboard.routes import dashboard_routes
from provider_proxy.errors import ProxyError, internal_error
from provider_proxy.models.anthropic_output import ErrorType
from provider_proxy.services.admission import Gate
from provider_proxy.services.dispatch import Dispatcher
from provider_proxy.services.keyring import KeyRing
from provider_proxy.services.limits.limiter import Limiter
from provider_proxy.services.limits.spend import seed_budgets
from provider_proxy.services.recorder import Recorder
from provider_proxy.services.routing import Router
from provider_proxy.services.token_counting import TokenCounter
from provider_proxy.services.upstream import UpstreamClient
from provider_proxy.services.usage.record import RequestRecord
from provider_proxy.services.usage.report import Pricing
from provider_proxy.services.web_search.backends import SearchBackend
from provider_proxy.services.web_search.loop import WebSearch
from provider_proxy.utils.logging import loggable

logger = logging.getLogger("provider_proxy.request")

_HTTP_ERRORS: dict[int, ErrorType] = {404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large"}
# The status recorded for a request whose client left before its answer (nginx's "client closed request").
CLIENT_GONE_STATUS = 499


@dataclass(frozen=True, slots=True)
class Endpoint:
    handler: Handler
    # The client key is required.
    auth: bool = True
    # The request leaves a usage row and metrics (its log line is written in any case).
    usage: bool = False


def _with_head(endpoints: dict[tuple[str, str], Endpoint]) -> dict[tuple[str, str], Endpoint]:
    """HEAD wherever GET (the server leaves the body out): Starlette would let it through to the guards."""
    return {
        **endpoints,
        **{("HEAD", path): endpoint for (method, path), endpoint in endpoints.items() if method == "GET"},
    }


_ENDPOINTS: dict[tuple[str, str], Endpoint] = _with_head(
    {
        ("POST", "/v1/messages"): Endpoint(messages, usage=True),
        ("POST", "/v1/messages/count_tokens"): Endpoint(count_tokens),
        ("GET", "/v1/models"): Endpoint(list_models),
        ("GET", "/"): Endpoint(health, auth=False),
        ("GET", "/health"): Endpoint(health, auth=False),
        ("GET", "/ready"): Endpoint(ready, auth=False),
        ("GET", "/openapi.json"): Endpoint(openapi, auth=False),
    }
)


# `GET /v1/models/{model_id}`: the one endpoint with a path parameter (the id may hold slashes).
_MODEL_ENDPOINT = Endpoint(get_model)


async def _unreachable(request: Request) -> Response:
    raise AssertionError(f"{request.method} {request.url.path} is served by ProxyApp")


def _method_guards() -> list[BaseRoute]:
    """Starlette routes for the API paths, only so that a wrong method gets its 405 in Anthropic's
    shape: the right methods are answered by `ProxyApp` and never reach Starlette."""
    methods: dict[str, list[str]] = {}
    for method, path in _ENDPOINTS:
        methods.setdefault(path, []).append(method)
    return [Route(path, _unreachable, methods=allowed) for path, allowed in methods.items()]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error_type = _HTTP_ERRORS.get(exc.status_code, "invalid_request_error")
    message = f"{request.method} {request.url.path}: {exc.detail}"
    if exc.status_code == 404:
        message += (
            " (this proxy serves POST /v1/messages, POST /v1/messages/count_tokens, GET /v1/models and GET /;"
            " GET /openapi.json describes them)"
        )
    return error_response(ProxyError(error_type, message, status=exc.status_code), RequestRecord().request_id)


def _web_search(config: ProxyConfig, dispatcher: Dispatcher) -> WebSearch | None:
    """The proxy's own web search, when `[server_tools.web_search]` names a backend."""
    if config.web_search is None:
        return None
    return WebSearch(SearchBackend(config.web_search, config.secrets), dispatcher, config.secrets)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    """A failure in a route Starlette serves (the dashboard's): Anthropic's shape, not plain text.
    Starlette logs the traceback after this response has been sent."""
    request_id = RequestRecord().request_id
    logger.error("%s %s %s failed with an unexpected error", request_id, request.method, request.url.path)
    return error_response(internal_error(request_id), request_id)


def create_app(settings: Settings, config: ProxyConfig | None = None) -> ProxyApp:
    config = config or build_config(settings)
    upstream = UpstreamClient(settings, config.secrets)
    recorder = Recorder.from_settings(settings, config.model_names)
    metrics = recorder.metrics
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    dispatcher = Dispatcher(upstream, settings)
    state = ProxyState(
        config=config,
        router=Router(config),
        upstream=upstream,
        dispatcher=dispatcher,
        recorder=recorder,
        tokens=TokenCounter(),
        keys=KeyRing(config),
        limiter=Limiter(metrics, redis_url, fail_closed=settings.limits_fail_closed),
        gate=Gate(settings.max_concurrent_requests, settings.max_queued_requests, settings.queue_timeout, metrics),
        pricing=Pricing.from_config(config),
        web_search=_web_search(config, dispatcher),
    )

    # With Redis, a breaker opened in one replica opens in all of them.
    shared_breakers = None
    if redis_url:  # the Redis client is imported only when Redis is configured (53 ms and memory)
        from provider_proxy.services.breaker_share import SharedBreakers

        shared_breakers = SharedBreakers(state.dispatcher.breakers, redis_url)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.upstream.start()
        await state.recorder.start()
        await state.keys.start()
        await seed_budgets(state.keys.keys, state.recorder.writer, state.pricing, state.limiter)
        if shared_breakers is not None:
            await shared_breakers.start()
        try:
            yield
        finally:
            if shared_breakers is not None:
                await shared_breakers.close()
            await state.keys.close()
            await state.upstream.close()
            if state.web_search is not None:
                await state.web_search.close()
            await state.limiter.close()
            # After the server has finished its requests: drain the usage queue into the store.
            await state.recorder.close()

    routes = [*dashboard_routes(), *_method_guards()]
    handlers = {HTTPException: _http_error, Exception: _unexpected_error}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.state.proxy = state
    return ProxyApp(app, state)


class ProxyApp:
    """The ASGI app: the API endpoints here, everything else through Starlette."""

    def __init__(self, app: Starlette, state: ProxyState) -> None:
        self.app = app
        self.state = app.state
        self._proxy = state
        self._watches = ClientWatches()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = _ENDPOINTS.get((scope["method"], scope["path"]))
            if endpoint is None and scope["method"] in ("GET", "HEAD") and scope["path"].startswith(MODELS_PREFIX):
                endpoint = _MODEL_ENDPOINT
            if endpoint is not None:
                await self._serve(endpoint, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self.app
        record = RequestRecord(method=scope["method"], path=scope["path"])
        recorder = self._proxy.recorder
        watch = self._watches.watch(receive)
        response = await self._answer(endpoint, Request(scope, watch.receive, send), record, watch)
        if response is None:
            record.status = CLIENT_GONE_STATUS
            self._done(record, endpoint, sent=False)
            return
        record.status = response.status_code
        recorder.sending(record)
        try:
            await response(scope, receive, send)
        finally:
            self._done(record, endpoint, sent=True)

    def _done(self, record: RequestRecord, endpoint: Endpoint, *, sent: bool) -> None:
        """The request has ended: its slot is free, its record written, its key's usage counted."""
        state = self._proxy
        if record.holds_slot:
            state.gate.leave()
        state.recorder.finish(record, usage=endpoint.usage, sent=sent)
        key = record.client_key
        if key is not None and key.limited and record.input_tokens is not None:
            tokens = record.input_tokens + (record.output_tokens or 0)
            cost = 0.0
            if key.daily_budget is not None or key.monthly_budget is not None:
                prices = state.pricing.price_for(record.upstream_model, record.model, record.provider)
                if prices is not None:
                    cost = prices.cost(record.input_tokens, record.output_tokens or 0, record.cache_read_tokens or 0)
            state.limiter.settle(key, tokens, cost)

    async def _answer(
        self, endpoint: Endpoint, request: Request, record: RequestRecord, watch: ClientWatch
    ) -> Answer | None:
        """The handler's response, or the error it raised in Anthropic's shape, or None when the client
        left first; never raises (but for a cancellation from outside)."""
        state = self._proxy
        try:
            if endpoint.auth and (key := authenticate(request, state.keys)) is not None:
                record.key_name, record.client_key = key.name, key
                if endpoint.usage and key.limited:
                    await state.limiter.admit(key)
            if endpoint.usage:
                if not state.gate.enter_now():
                    await state.gate.enter()
                record.holds_slot = True
            response = await endpoint.handler(request, state, record)
            # Straight onto the raw list: Starlette's MutableHeaders would rescan it for the name.
            response.raw_headers.append((b"request-id", record.request_id.encode()))
            return response
        except ProxyError as error:
            logger.warning("%s failed: %s %s", record.request_id, error.error_type, loggable(error.message, 1000))
            record.error_type = error.error_type
            return error_response(error, record.request_id)
        except Exception:
            logger.exception("%s failed with an unexpected error", record.request_id)
            record.error_type = "api_error"
            return error_response(internal_error(record.request_id), record.request_id)
        except asyncio.CancelledError:
            if not watch.cancelled_task():
                raise  # cancelled from outside (shutdown): let it through
            logger.info("%s client disconnected before the answer; upstream call cancelled", record.request_id)
            return None
        finally:
            watch.stop()
