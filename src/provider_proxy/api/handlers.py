"""The API endpoints. Each handler decodes, routes, translates, calls upstream and answers, filling
in the request's record as it learns; failures are raised and rendered once, by `app.ProxyApp`."""

from __future__ import annotations

import logging
from typing import Final

import orjson
from starlette.requests import Request
from starlette.responses import Response

from provider_proxy import __version__
from provider_proxy.api.body import check_messages_request, client_json, decode_request, read_body
from provider_proxy.api.context import Answer, ProxyState, header
from provider_proxy.api.responses import JSON
from provider_proxy.api.sse_response import EventStreamResponse
from provider_proxy.config.provider import Route
from provider_proxy.conversion.apis import upstream_api
from provider_proxy.conversion.chat_api import ChatCall
from provider_proxy.conversion.upstream_api import ClientRequest, Prepared
from provider_proxy.errors import ProxyError
from provider_proxy.models.anthropic import CountTokensRequest, MessagesRequest
from provider_proxy.services.context_window import fit_window
from provider_proxy.services.provider_count import provider_count
from provider_proxy.services.routing import RequestTraits, is_subagent
from provider_proxy.services.upstream import Outcome
from provider_proxy.services.usage.record import RequestRecord

logger = logging.getLogger("provider_proxy.request")

# Longer session ids are cut: a client-supplied string must not grow the usage store without bound.
_SESSION_ID_LIMIT: Final = 128
_NO_TRAITS: Final = RequestTraits()


async def messages(request: Request, state: ProxyState, record: RequestRecord) -> Answer:
    raw = await read_body(request, state.config.settings.max_request_bytes)
    anthropic_request, dropped = decode_request(raw, MessagesRequest)
    check_messages_request(anthropic_request)
    # Scenario routing needs a look at the headers and, maybe, a token estimate: only when configured.
    traits = _traits(request, anthropic_request, state, raw) if state.config.scenarios else _NO_TRAITS
    route = state.router.route(anthropic_request, traits)
    record.model, record.stream = anthropic_request.model, anthropic_request.stream
    _check_allowed(record, route, state)
    record.session_id = header(request, b"x-claude-code-session-id")[:_SESSION_ID_LIMIT] or None
    _note_target(record, route)
    if dropped:
        logger.info("%s dropped content blocks the upstream cannot take: %s", record.request_id, ", ".join(dropped))

    client_request = ClientRequest(anthropic_request, raw, header(request, b"anthropic-beta"))

    def prepare(target: Route) -> Prepared:
        with client_json:
            prepared: Prepared = upstream_api(target.provider).prepare(client_request, target)
            if isinstance(prepared, ChatCall):
                # The window is checked on Chat Completions bodies; Anthropic-API providers answer a
                # prompt too long in Anthropic's own words, Responses API ones as chat providers do.
                prepared.body = fit_window(prepared.body, prepared.translation, target, state.tokens)
        for note in prepared.notes:
            logger.info("%s %s", record.request_id, note)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s upstream request to %s: %s", record.request_id, target.label, prepared.body.decode())
        return prepared

    outcome = Outcome()
    try:
        if anthropic_request.stream:
            opened = await state.dispatcher.open_stream(route, prepare, outcome)
        else:
            answered = await state.dispatcher.complete(route, prepare, outcome)
    finally:
        record.retries, record.attempts = outcome.retries, outcome.summary() or None
    if anthropic_request.stream:
        _note_target(record, opened.target)
        relay = upstream_api(opened.target.provider).relay(opened.prepared, state.config.secrets, record.request_id)
        return EventStreamResponse(relay, opened.answer, record, state.config.settings)
    _note_target(record, answered.target)
    reply = answered.answer
    record.note_usage(reply.usage)
    record.stop_reason = reply.stop_reason
    return Response(reply.body, media_type=JSON)


def _check_allowed(record: RequestRecord, route: Route, state: ProxyState) -> None:
    """The key's model list, and room for one more stream."""
    key = record.client_key
    if key is not None and key.models and not key.allows(route.requested, route.label):
        raise ProxyError(
            "permission_error",
            f"key {key.name!r} may not use model {route.requested!r}; it may use: {', '.join(key.models)}",
        )
    if record.stream and state.recorder.open_streams >= state.config.settings.max_open_streams:
        state.recorder.metrics.overloaded.labels("streams").inc()
        raise ProxyError(
            "overloaded_error", "the proxy has as many streams open as it may (MAX_OPEN_STREAMS); retry shortly"
        )


def _traits(request: Request, body: MessagesRequest, state: ProxyState, raw: bytes) -> RequestTraits:
    """What scenario routing may ask about the request; the token estimate only if it asks."""
    tokens = state.tokens

    def input_tokens() -> int:
        with client_json:
            return tokens.estimate_request(body)

    return RequestTraits(
        subagent=is_subagent(header(request, b"x-claude-code-agent-id"), body),
        body_bytes=len(raw),
        input_tokens=input_tokens,
    )


def _note_target(record: RequestRecord, target: Route) -> None:
    """The target that answered (a fallback, perhaps)."""
    record.route, record.provider, record.upstream_model = target.label, target.provider.name, target.model


async def count_tokens(request: Request, state: ProxyState, record: RequestRecord) -> Answer:
    raw = await read_body(request, state.config.settings.max_request_bytes)
    count_request, _ = decode_request(raw, CountTokensRequest)
    check_messages_request(count_request)
    route = state.router.resolve(count_request.model)
    record.model, record.route = count_request.model, route.label
    count = None
    if route.provider.profile.count_tokens:
        # The provider counts for itself (Anthropic's API); the local count when it cannot answer.
        with client_json:
            count = await provider_count(state.upstream, route, raw, header(request, b"anthropic-beta"))
    if count is None:
        with client_json:
            count = state.tokens.count_request(count_request, route)
    return Response(orjson.dumps({"input_tokens": count}), media_type=JSON)


async def ready(request: Request, state: ProxyState, record: RequestRecord) -> Answer:
    """Readiness for a load balancer: 503 from the first SIGTERM on, while the proxy still serves what
    reaches it (DRAIN_SECONDS), so the balancer moves traffic away before connections close."""
    if state.lifecycle.draining:
        return Response(orjson.dumps({"status": "draining"}), status_code=503, media_type=JSON)
    return Response(orjson.dumps({"status": "ready"}), media_type=JSON)


async def health(request: Request, state: ProxyState, record: RequestRecord) -> Answer:
    settings = state.config.settings
    body = {
        "status": "ok",
        "service": "claude-code-provider-proxy",
        "version": __version__,
        "providers": sorted(state.config.providers),
        "models": {"big": settings.big_model, "middle": settings.sonnet_model, "small": settings.small_model},
    }
    return Response(orjson.dumps(body), media_type=JSON)
