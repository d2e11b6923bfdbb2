"""The API endpoints. Each handler decodes, routes, translates, calls upstream and answers, filling
in the request's record as it learns; failures are raised and rendered once, by `app.ProxyApp`."""

from __future__ import annotations

import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response

from provider_proxy import __version__
from provider_proxy.api.body import check_messages_request, decode_request, read_body
from provider_proxy.api.context import Answer, ProxyState
from provider_proxy.api.responses import JSON
from provider_proxy.api.sse_response import EventStreamResponse
from provider_proxy.conversion.request import to_openai
from provider_proxy.conversion.response import to_anthropic
from provider_proxy.conversion.stream import StreamTranslator
from provider_proxy.conversion.stream_pipeline import EventPipeline
from provider_proxy.models.anthropic import CountTokensRequest, MessagesRequest
from provider_proxy.services.token_counting import estimate_input_tokens
from provider_proxy.services.upstream import Outcome
from provider_proxy.services.usage.record import RequestRecord

logger = logging.getLogger("provider_proxy.request")


async def messages(request: Request, state: ProxyState, record: RequestRecord) -> Answer:
    raw = await read_body(request, state.config.settings.max_request_bytes)
    anthropic_request, dropped = decode_request(raw, MessagesRequest)
    check_messages_request(anthropic_request)
    route = state.router.resolve(anthropic_request.model)
    record.model, record.route, record.stream = anthropic_request.model, route.label, anthropic_request.stream
    record.provider, record.upstream_model = route.provider.name, route.model
    if dropped:
        logger.info("%s dropped content blocks the upstream cannot take: %s", record.request_id, ", ".join(dropped))
    translation = to_openai(anthropic_request, route)
    for note in translation.notes:
        logger.info("%s %s", record.request_id, note)
    body = orjson.dumps(translation.body)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s upstream request: %s", record.request_id, body.decode())
    outcome = Outcome()
    estimate = estimate_input_tokens(body)
    if anthropic_request.stream:
        try:
            upstream = await state.upstream.open_stream(route.provider, route.model, body, outcome)
        finally:
            record.retries = outcome.retries
        translator = StreamTranslator(anthropic_request.model, translation, estimate)
        pipeline = EventPipeline(translator, state.config.secrets, record.request_id)
        return EventStreamResponse(pipeline, upstream, record, state.config.settings)
    try:
        completion = await state.upstream.complete(route.provider, route.model, body, outcome)
    finally:
        record.retries = outcome.retries
    message = to_anthropic(completion, anthropic_request.model, translation, 0 if completion.usage else estimate)
    usage = message["usage"]
    record.input_tokens, record.output_tokens = usage["input_tokens"], usage["output_tokens"]
    record.cache_read_tokens, record.stop_reason = usage["cache_read_input_tokens"], message["stop_reason"]
    return Response(orjson.dumps(message), media_type=JSON)


async def count_tokens(request: Request, state: ProxyState, record: RequestRecord) -> Answer:
    raw = await read_body(request, state.config.settings.max_request_bytes)
    count_request, _ = decode_request(raw, CountTokensRequest)
    check_messages_request(count_request)
    route = state.router.resolve(count_request.model)
    record.model, record.route = count_request.model, route.label
    count = state.tokens.count_request(count_request, route)
    return Response(orjson.dumps({"input_tokens": count}), media_type=JSON)


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
