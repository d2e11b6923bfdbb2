"""HTTP endpoints. Each handler decodes, routes, translates, calls upstream and answers; every
failure is rendered once, by `guarded`, in Anthropic's error shape."""

from __future__ import annotations

import hmac
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
from starlette.requests import Request
from starlette.responses import Response

from provider_proxy import __version__
from provider_proxy.api.body import check_messages_request, decode_request, decompress
from provider_proxy.config.proxy_config import ProxyConfig
from provider_proxy.conversion.request import to_openai
from provider_proxy.conversion.response import to_anthropic
from provider_proxy.errors import ProxyError, error_body
from provider_proxy.models.anthropic import CountTokensRequest, MessagesRequest
from provider_proxy.services.recorder import UsageRecorder
from provider_proxy.services.routing import Router
from provider_proxy.services.token_counting import count_request_tokens, estimate_input_tokens
from provider_proxy.services.upstream import Outcome, UpstreamClient
from provider_proxy.services.usage.record import UsageRecord

logger = logging.getLogger("provider_proxy.request")

JSON = "application/json"


@dataclass(slots=True)
class ProxyState:
    config: ProxyConfig
    router: Router
    upstream: UpstreamClient
    recorder: UsageRecorder


def new_request_id() -> str:
    return f"req_{random.getrandbits(96):024x}"


@dataclass(slots=True)
class RequestLog:
    """What the one log line per request says, and its usage record when `recorder` is set."""

    request_id: str = field(default_factory=new_request_id)
    started: float = field(default_factory=time.perf_counter)
    model: str = "-"
    route: str = "-"
    stream: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    retries: int = 0
    # Set by a streaming response, which writes the line itself when the stream ends.
    deferred: bool = False
    recorder: UsageRecorder | None = None
    wall_time: float = field(default_factory=time.time)
    key_name: str | None = None
    provider: str | None = None
    upstream_model: str | None = None
    cache_read_tokens: int | None = None
    first_token: float | None = None  # perf_counter when a stream sent its first content delta
    error_type: str | None = None
    stop_reason: str | None = None

    def write(self, method: str, path: str, status: int) -> None:
        """The log line; then, for recorded endpoints, the usage record and metrics."""
        elapsed = (time.perf_counter() - self.started) * 1000
        if self.recorder is not None:
            self.recorder.record(self.usage_record(status, elapsed))
        tokens = ""
        if self.input_tokens is not None:
            tokens = f" in={self.input_tokens} out={self.output_tokens}"
        retries = f" retries={self.retries}" if self.retries else ""
        logger.info(
            "%s %s %s %s -> %s %d %.1fms%s%s%s",
            self.request_id,
            method,
            path,
            self.model,
            self.route,
            status,
            elapsed,
            " stream" if self.stream else "",
            tokens,
            retries,
        )

    def usage_record(self, status: int, latency: float) -> UsageRecord:
        ttft = None if self.first_token is None else (self.first_token - self.started) * 1000
        return UsageRecord(
            ts=self.wall_time,
            request_id=self.request_id,
            key_name=self.key_name,
            model=None if self.model == "-" else self.model,
            route=None if self.route == "-" else self.route,
            provider=self.provider,
            upstream_model=self.upstream_model,
            stream=self.stream,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            ttft_ms=ttft,
            latency_ms=latency,
            status=status,
            error_type=self.error_type,
            stop_reason=self.stop_reason,
            retries=self.retries,
        )


Handler = Callable[[Request, ProxyState, RequestLog], Awaitable[Response]]


def error_response(error: ProxyError, request_id: str) -> Response:
    headers = {**error.headers, "request-id": request_id}
    return Response(error_body(error), status_code=error.status, media_type=JSON, headers=headers)


def guarded(handler: Handler, *, auth: bool = True, record: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """Auth, request id, error rendering and the request log line (and usage record), around one endpoint."""

    async def endpoint(request: Request) -> Response:
        state: ProxyState = request.app.state.proxy
        log = RequestLog(recorder=state.recorder if record else None)
        try:
            if auth:
                _authenticate(request, state.config)
                # One optional PROXY_API_KEY today: its usage is recorded under the name "default".
                log.key_name = "default" if state.config.settings.proxy_api_key else None
            response = await handler(request, state, log)
            # Straight onto the raw list: Starlette's MutableHeaders would rescan it for the name.
            response.raw_headers.append((b"request-id", log.request_id.encode()))
        except ProxyError as error:
            log.error_type = error.error_type
            response = error_response(error, log.request_id)
            logger.warning("%s failed: %s %s", log.request_id, error.error_type, error.message)
        except Exception:
            logger.exception("%s failed with an unexpected error", log.request_id)
            log.error_type = "api_error"
            response = error_response(
                ProxyError("api_error", f"Internal proxy error; see the proxy log for {log.request_id}"),
                log.request_id,
            )
        if not log.deferred:
            log.write(request.method, request.scope["path"], response.status_code)
        return response

    return endpoint


def has_proxy_key(request: Request, config: ProxyConfig, *, query: bool = False) -> bool:
    """True when no PROXY_API_KEY is set or the request presents it: as x-api-key, as a Bearer token,
    or (with `query`, for a browser address bar) as `?key=`."""
    expected = config.settings.proxy_api_key
    if expected is None:
        return True
    bearer = request.headers.get("authorization", "")
    presented = (
        request.headers.get("x-api-key")
        or (bearer[7:].strip() if bearer.lower().startswith("bearer ") else "")
        or (request.query_params.get("key", "") if query else "")
    )
    return hmac.compare_digest(presented.encode(), expected.get_secret_value().encode())


def _authenticate(request: Request, config: ProxyConfig) -> None:
    if not has_proxy_key(request, config):
        raise ProxyError(
            "authentication_error",
            "invalid x-api-key: this proxy requires the key set in PROXY_API_KEY "
            "(send it as x-api-key or ANTHROPIC_AUTH_TOKEN)",
        )


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ProxyError("request_too_large", f"Request body exceeds the limit of {limit} bytes")
    chunks = []
    size = 0
    receive = request.receive
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ProxyError("invalid_request_error", "The client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            raise ProxyError("request_too_large", f"Request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return decompress(body, request.headers.get("content-encoding", ""), limit)


async def messages(request: Request, state: ProxyState, log: RequestLog) -> Response:
    raw = await read_body(request, state.config.settings.max_request_bytes)
    anthropic_request, dropped = decode_request(raw, MessagesRequest)
    check_messages_request(anthropic_request)
    route = state.router.resolve(anthropic_request.model)
    log.model, log.route, log.stream = anthropic_request.model, route.label, anthropic_request.stream
    log.provider, log.upstream_model = route.provider.name, route.model
    if dropped:
        logger.info("%s dropped content blocks the upstream cannot take: %s", log.request_id, ", ".join(dropped))
    translation = to_openai(anthropic_request, route)
    for note in translation.notes:
        logger.info("%s %s", log.request_id, note)
    body = orjson.dumps(translation.body)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s upstream request: %s", log.request_id, body.decode())
    if anthropic_request.stream:
        from provider_proxy.api.sse_response import stream_messages

        return await stream_messages(state, route, translation, anthropic_request, body, log)
    outcome = Outcome()
    try:
        completion = await state.upstream.complete(route.provider, route.model, body, outcome)
    finally:
        log.retries = outcome.retries
    estimated_input = 0 if completion.usage else estimate_input_tokens(body)
    message = to_anthropic(completion, anthropic_request.model, translation, estimated_input)
    usage = message["usage"]
    log.input_tokens, log.output_tokens = usage["input_tokens"], usage["output_tokens"]
    log.cache_read_tokens, log.stop_reason = usage["cache_read_input_tokens"], message["stop_reason"]
    return Response(orjson.dumps(message), media_type=JSON)


async def count_tokens(request: Request, state: ProxyState, log: RequestLog) -> Response:
    raw = await read_body(request, state.config.settings.max_request_bytes)
    count_request, _ = decode_request(raw, CountTokensRequest)
    check_messages_request(count_request)
    route = state.router.resolve(count_request.model)
    log.model, log.route = count_request.model, route.label
    return Response(orjson.dumps({"input_tokens": count_request_tokens(count_request, route)}), media_type=JSON)


async def health(request: Request, state: ProxyState, log: RequestLog) -> Response:
    settings = state.config.settings
    body = {
        "status": "ok",
        "service": "claude-code-provider-proxy",
        "version": __version__,
        "providers": sorted(state.config.providers),
        "models": {"big": settings.big_model, "middle": settings.sonnet_model, "small": settings.small_model},
    }
    return Response(orjson.dumps(body), media_type=JSON)
