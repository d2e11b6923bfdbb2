"""The API endpoints. Each handler decodes, routes, translates, calls upstream and answers, filling
in the request's record as it learns; failures are raised and rendered once, by `app.ProxyApp`."""

from __future__ import annotations

import logging
from typing import Final

import orjson
from starlette.requests import Request
from starlette.responses import Response

from provider_proxy import __version__
from provider_proxy.api.body import check_messages_request, client_json, decode_request, describe_dropped, read_body
from provider_proxy.api.context import Answer, ProxyState, header
from provider_proxy.api.responses import JSON
from provider_proxy.api.sse_response import EventStreamResponse
from provider_proxy.config.provider import Route
from provider_proxy.conversion.request import Translation, to_openai
from provider_proxy.conversion.response import to_anthropic
from provider_proxy.conversion.stream import StreamTranslator
from provider_proxy.conversion.stream_pipeline import EventPipeline
from provider_proxy.models.anthropic import CountTokensRequest, MessagesRequest
from provider_proxy.services.context_window import fit_window
from provider_proxy.services.routing import RequestTraits, is_subagent
from provider_proxy.services.token_counting import estimate_input_tokens
from provider_proxy.services.upstream import Outcome
from provider_proxy.services.usage.record import RequestRecord
from provider_proxy.utils.logging import loggable

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
    record.session_id = header(request, b"x-claude-code-session-id")[:_SESSION_ID_LIMIT] or None
    _note_target(record, route)
    if dropped:
        logger.info(
            "%s dropped content blocks the upstream cannot take: %s", record.request_id, describe_dropped(dropped)
        )

    def prepare(target: Route) -> tuple[Translation, bytes]:
        with client_json:
            translation = to_openai(anthropic_request, target)
            body = fit_window(orjson.dumps(translation.body), translation, target, state.tokens)
        for note in translation.notes:
            logger.info("%s %s", record.request_id, loggable(note, 1000))  # notes may name client strings
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s upstream request to %s: %s", record.request_id, target.label, body.decode())
        return translation, body

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
        translation = opened.prepared
        translator = StreamTranslator(anthropic_request.model, translation, estimate_input_tokens(opened.body))
        pipeline = EventPipeline(translator, state.config.secrets, record.request_id)
        return EventStreamResponse(pipeline, opened.answer, record, state.config.settings)
    _note_target(record, answered.target)
    completion, translation = answered.answer, answered.prepared
    estimate = 0 if completion.usage else estimate_input_tokens(answered.body)
    message = to_anthropic(completion, anthropic_request.model, translation, estimate)
    usage = message["usage"]
    record.input_tokens, record.output_tokens = usage["input_tokens"], usage["output_tokens"]
    record.cache_read_tokens, record.stop_reason = usage["cache_read_input_tokens"], message["stop_reason"]
    return Response(orjson.dumps(message), media_type=JSON)


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
