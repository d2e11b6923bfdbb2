"""Web search run by the proxy: the rounds with the upstream and the searches between them (the I/O;
the blocks, the rules and the event renumbering are in `conversion.search_rounds`).

Only requests whose client offers Anthropic's web search tool, with a backend configured, come here
(`WebSearch.complete`, `WebSearch.open_stream`); every other request takes the usual path untouched.
Each round goes to the target that answered the first one (a continuation must not switch models),
within the same deadline rules as any request (`services.dispatch`).

For a stream, `SearchStream` stands in both for the upstream stream and for the event pipeline that
`api.sse_response.EventStreamResponse` drives: it relays the current round's bytes, and at the end of a
round runs the searches and opens the next round in a task. While that task runs, reads time out as
usual (the client gets pings); when it is done, the next read returns a marker and the `feed` that
follows hands out the result blocks and the next round's start (the response always feeds what it
read before reading again).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Final

from provider_proxy.config.provider import Route
from provider_proxy.conversion.search_rounds import SearchEvents, SearchMessage, Step
from provider_proxy.conversion.server_tools import (
    SearchSpec,
    continued,
    history_for_upstream,
    result_block,
    within_domains,
)
from provider_proxy.conversion.upstream_api import Prepared, StreamPipeline, stream_pipeline_for, to_message
from provider_proxy.errors import ProxyError, error_payload
from provider_proxy.models.anthropic import MessagesRequest
from provider_proxy.models.anthropic_output import (
    ErrorType,
    Message,
    StopReason,
    StreamEvent,
    Usage,
    WebSearchToolResultContent,
)
from provider_proxy.services.dispatch import Answered, Dispatcher
from provider_proxy.services.token_counting import estimate_input_tokens
from provider_proxy.services.upstream import Outcome, UpstreamStream
from provider_proxy.services.web_search.backends import SearchBackend, SearchFailed

logger = logging.getLogger(__name__)

# Translates a request for one target: the handler's (body checks, window fitting, notes in the log).
Preparer = Callable[[MessagesRequest], Callable[[Route], tuple[Prepared, bytes]]]
# What `SearchStream.read` returns when the task between two rounds is done (the bytes do not matter:
# a flag tells `feed` that they stand for the task's events).
_RESUMED: Final = b":resumed\n"


class WebSearch:
    def __init__(self, backend: SearchBackend, dispatcher: Dispatcher, secrets: tuple[str, ...]) -> None:
        self.backend = backend
        self.dispatcher = dispatcher
        self.secrets = secrets

    async def close(self) -> None:
        await self.backend.close()

    async def results(self, steps: list[Step], spec: SearchSpec) -> list[WebSearchToolResultContent]:
        """One result block per step, searches run side by side; a failure is the block's error."""
        return list(await asyncio.gather(*(self._result(step, spec) for step in steps)))

    async def _result(self, step: Step, spec: SearchSpec) -> WebSearchToolResultContent:
        if step.query is None:
            assert step.error is not None
            return result_block(step.call.id, step.error)
        try:
            hits = await self.backend.search(step.query)
        except SearchFailed as failure:
            return result_block(step.call.id, failure.code)
        return result_block(step.call.id, within_domains(hits, spec, self.backend.config.max_results))

    async def complete(
        self, request: MessagesRequest, spec: SearchSpec, route: Route, prepare: Preparer, outcome: Outcome
    ) -> tuple[Message, Route]:
        """The whole answer, every round and search done; the target that answered."""
        answer = SearchMessage(spec)
        target, current = route, request
        while True:
            answered = await self.dispatcher.complete(target, prepare(history_for_upstream(current)), outcome)
            target = _pinned(answered.target)
            completion = answered.answer
            estimate = 0 if completion.usage else estimate_input_tokens(answered.body)
            steps = answer.add(to_message(completion, request.model, answered.prepared, estimate))
            if steps:
                answer.add_results(await self.results(steps, spec))
            if not answer.next_round:
                return answer.message(), target
            current = continued(request, answer.content, answer.rounds.search_offered)

    async def open_stream(
        self, request: MessagesRequest, spec: SearchSpec, route: Route, prepare: Preparer, outcome: Outcome, label: str
    ) -> SearchStream:
        opened = await self.dispatcher.open_stream(route, prepare(history_for_upstream(request)), outcome)
        return SearchStream(self, request, spec, opened, prepare, outcome, label)


def _pinned(target: Route) -> Route:
    """The target alone: the rounds after the first go where the first went."""
    return dataclasses.replace(target, fallbacks=()) if target.fallbacks else target


class SearchStream:
    """The upstream stream and the event pipeline of a streamed answer with searches (see the module)."""

    def __init__(
        self,
        search: WebSearch,
        request: MessagesRequest,
        spec: SearchSpec,
        opened: Answered[Prepared, UpstreamStream],
        prepare: Preparer,
        outcome: Outcome,
        label: str,
    ) -> None:
        self._search = search
        self._request = request
        self._spec = spec
        self._prepare = prepare
        self._outcome = outcome
        self._label = label
        self.events = SearchEvents(spec)
        self.target = _pinned(opened.target)
        self._upstream = opened.answer
        self._pipeline = self._pipeline_for(opened)
        self._between: asyncio.Task[list[StreamEvent]] | None = None
        self._queued: list[StreamEvent] = []
        self._resumed = False
        self._finished = False
        self._done = False
        self._has_content = False

    def _pipeline_for(self, opened: Answered[Prepared, UpstreamStream]) -> StreamPipeline:
        tokens = estimate_input_tokens(opened.body)
        return stream_pipeline_for(opened.prepared, self._request.model, tokens, self._search.secrets, self._label)

    # -- what the response reads as the pipeline's translator (StreamState) --

    @property
    def translator(self) -> SearchStream:
        return self

    @property
    def has_content(self) -> bool:
        self._has_content = self._has_content or self._pipeline.translator.has_content
        return self._has_content

    @property
    def usage(self) -> Usage:
        return self.events.usage or self._pipeline.translator.usage

    @property
    def stop_reason(self) -> StopReason | None:
        return self.events.stop_reason

    @property
    def error_type(self) -> ErrorType | None:
        return self.events.error_type

    # -- the pipeline --

    @property
    def done(self) -> bool:
        return self._done

    def start(self) -> list[StreamEvent]:
        return self.events.feed(self._pipeline.start())

    def feed(self, raw: bytes) -> list[StreamEvent]:
        if self._resumed:
            self._resumed = False
            events, self._queued = self._queued, []
            self._done = self._finished
            return events
        events = self.events.feed(self._pipeline.feed(raw))
        if self.events.failed:
            self._done = True
        elif self.events.round_over:
            steps = self.events.steps()
            if steps:
                self._between = asyncio.ensure_future(self._next_round(steps))
            else:
                events += self.events.finish()
                self._done = True
        return events

    def fail(self, error: ProxyError) -> list[StreamEvent]:
        if self._done:
            return []
        self._done = True
        self.events.error_type = error.error_type
        return [error_payload(error)]

    # -- the upstream stream --

    async def read(self, wait: float) -> bytes | None:
        between = self._between
        if between is None:
            return await self._upstream.read(wait)
        done, _ = await asyncio.wait((between,), timeout=max(wait, 0))
        if not done:
            return None
        self._between = None
        self._queued = between.result()
        self._resumed = True
        return _RESUMED

    def close(self) -> None:
        if self._between is not None:
            self._between.cancel()
        self._upstream.close()

    async def _next_round(self, steps: list[Step]) -> list[StreamEvent]:
        """The searches' result blocks, then the next round opened (or the end of the message)."""
        events = self.events.results(await self._search.results(steps, self._spec))
        if not self.events.next_round:
            self._finished = True
            return events + self.events.finish()
        self._upstream.close()
        request = continued(self._request, self.events.content, self.events.rounds.search_offered)
        prepare = self._prepare(history_for_upstream(request))
        try:
            opened = await self._search.dispatcher.open_stream(self.target, prepare, self._outcome)
        except ProxyError as error:
            # The results already found still reach the client, then the error ends the stream.
            logger.warning("%s next round failed: %s %s", self._label, error.error_type, error.message)
            self._finished = True
            return events + self.fail(error)
        self._upstream, self._pipeline = opened.answer, self._pipeline_for(opened)
        self.events.begin_round()
        return events + self.events.feed(self._pipeline.start())
