"""The API endpoints. Each handler decodes, routes, translates, calls upstream and answers, filling
in the request's record as it learns; failures are raised and rendered once, by `app.ProxyApp`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
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
from provider_proxy.conversion.apis import upstream_api
from provider_proxy.conversion.chat_api import ChatCall
from provider_proxy.conversion.server_tools import (
    SearchSpec,
    history_for_upstream,
    offer_web_search,
    search_spec,
    web_search_tool,
)
from provider_proxy.conversion.upstream_api import ClientRequest, Prepared, Reply
from provider_proxy.errors import ProxyError
from provider_proxy.models.anthropic import CountTokensRequest, MessagesRequest, Tool
from provider_proxy.services.context_window import fit_window
from provider_proxy.services.provider_count import provider_count
from provider_proxy.services.routing import RequestTraits, is_subagent
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
    _check_allowed(record, route, state)
    record.session_id = header(request, b"x-claude-code-session-id")[:_SESSION_ID_LIMIT] or None
    _note_target(record, route)
    if dropped:
        logger.info(
            "%s dropped content blocks the upstream cannot take: %s", record.request_id, describe_dropped(dropped)
        )

    # Server-tool blocks in the history matter only to requests that offer the server tool (a loop over
    # the few tools, not a scan of the body).
    web_tool = web_search_tool(anthropic_request) if anthropic_request.tools else None
    search = _search_offer(anthropic_request, web_tool) if web_tool is not None and state.web_search else None
    if web_tool is not None and search is None:
        anthropic_request = history_for_upstream(anthropic_request)
    client_request = ClientRequest(anthropic_request, raw, header(request, b"anthropic-beta"))
    outcome = Outcome()
    if search is not None:
        return await _searching(search, client_request, route, outcome, record, state)
    prepare = _preparer(client_request, record, state)
    try:
        if anthropic_request.stream:
            opened = await state.dispatcher.open_stream(route, prepare, outcome)
        else:
            answered = await state.dispatcher.complete(route, prepare, outcome)
    finally:
        record.retries, record.attempts = outcome.retries, outcome.summary() or None
    if anthropic_request.stream:
        _note_target(record, opened.target)
        relay = upstream_api(opened.target.provider).relay(opened.prepared, state.upstream.secrets, record.request_id)
        return EventStreamResponse(relay, opened.answer, record, state.config.settings)
    _note_target(record, answered.target)
    return _answer(answered.answer, record)


def _preparer(client_request: ClientRequest, record: RequestRecord, state: ProxyState) -> Callable[[Route], Prepared]:
    """Prepares the request for one target (each target of a route in turn, fallbacks included)."""

    def prepare(target: Route) -> Prepared:
        with client_json:
            prepared: Prepared = upstream_api(target.provider).prepare(client_request, target)
            if isinstance(prepared, ChatCall):
                # The window is checked on Chat Completions bodies; Anthropic-API providers answer a
                # prompt too long in Anthropic's own words, Responses API ones as chat providers do.
                prepared.body = fit_window(prepared.body, prepared.translation, target, state.tokens)
        for note in prepared.notes:
            logger.info("%s %s", record.request_id, loggable(note, 1000))  # notes may name client strings
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s upstream request to %s: %s", record.request_id, target.label, prepared.body.decode())
        return prepared

    return prepare


def _answer(reply: Reply, record: RequestRecord) -> Response:
    record.note_usage(reply.usage)
    record.stop_reason = reply.stop_reason
    return Response(reply.body, media_type=JSON)


def _search_offer(request: MessagesRequest, tool: Tool) -> tuple[MessagesRequest, SearchSpec] | None:
    """The request with the proxy's search function in place of the web search server tool, and what
    the tool allows; None when a client tool has taken its name."""
    offered = offer_web_search(request, tool)
    return None if offered is None else (offered, search_spec(tool))


async def _searching(
    search: tuple[MessagesRequest, SearchSpec],
    client_request: ClientRequest,
    route: Route,
    outcome: Outcome,
    record: RequestRecord,
    state: ProxyState,
) -> Answer:
    """The answer with the proxy running the model's web searches (`services.web_search`). Each round
    prepares its own request; the raw body stays the client's (an Anthropic-API target passes the
    server tool through, and its provider searches itself)."""
    web_search = state.web_search
    assert web_search is not None
    request, spec = search

    def prepare_for(body: MessagesRequest) -> Callable[[Route], Prepared]:
        return _preparer(replace(client_request, typed=body), record, state)

    logger.info(
        "%s web search by the proxy (%s, max_uses %d)",
        record.request_id,
        web_search.backend.config.backend,
        spec.max_uses,
    )
    try:
        if request.stream:
            stream = await web_search.open_stream(request, spec, route, prepare_for, outcome, record.request_id)
        else:
            reply, target = await web_search.complete(request, spec, route, prepare_for, outcome)
    finally:
        record.retries, record.attempts = outcome.retries, outcome.summary() or None
    if request.stream:
        _note_target(record, stream.target)
        return EventStreamResponse(stream, stream, record, state.config.settings)
    _note_target(record, target)
    return _answer(reply, record)


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
    if count_request.tools and web_search_tool(count_request) is not None:
        count_request = history_for_upstream(count_request)
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
