"""Web search run by the proxy: the rounds with the upstream and the searches between them (the I/O;
the blocks, the rules and the event renumbering are in `conversion.search_rounds`).

Only requests whose client offers Anthropic's web search tool, with a backend configured, come here
(`WebSearch.complete`, `WebSearch.open_stream`); every other request takes the usual path untouched.
Each round goes to the target that answered the first one (a continuation must not switch models),
within the same deadline rules as any request (`services.dispatch`). The rounds use the one
upstream-API seam (`conversion.apis`) like any request: a round's answer is the client's message its
API decoded (`Reply.body`), a streamed round's events are what its API's `StreamRelay` gives.

For a stream, `SearchStream` stands in both for the upstream stream and for the `StreamRelay` that
`api.sse_response.EventStreamResponse` drives: it relays the current round's events, renumbered, and
at the end of a round runs the searches and opens the next round in a task. While that task runs,
reads time out as usual (the client gets pings); when it is done, the next read returns a marker and
the `relay` that follows hands out the result blocks and the next round's start (the response always
relays what it read before reading again).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Final, cast

import orjson

from provider_proxy.config.provider import Route
from provider_proxy.conversion.apis import upstream_api
from provider_proxy.conversion.search_rounds import SearchEvents, SearchMessage, Step
from provider_proxy.conversion.server_tools import (
    SearchSpec,
    continued,
    history_for_upstream,
    result_block,
    within_domains,
)
from provider_proxy.conversion.upstream_api import Prepared, Reply, StreamRelay
from provider_proxy.errors import ProxyError, error_payload
from provider_proxy.models.anthropic import MessagesRequest
from provider_proxy.models.anthropic_output import (
    ErrorType,
    Message,
    StreamEvent,
    Usage,
    WebSearchToolResultContent,
)
from provider_proxy.services.dispatch import Answered, Dispatcher
from provider_proxy.services.upstream import Outcome, UpstreamStream
from provider_proxy.services.web_search.backends import SearchBackend, SearchFailed
from provider_proxy.utils.sse import SSEDecoder, encode_all

logger = logging.getLogger(__name__)

# Prepares a request for one target: the handler's (the target's API, window fitting, notes in the log).
Preparer = Callable[[MessagesRequest], Callable[[Route], Prepared]]
# What `SearchStream.read` returns when the task between two rounds is done (the bytes do not matter:
# a flag tells `relay` that they stand for the task's events).
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
    ) -> tuple[Reply, Route]:
        """The whole answer, every round and search done; the target that answered."""
        answer = SearchMessage(spec)
        target, current = route, request
        while True:
            answered = await self.dispatcher.complete(target, prepare(history_for_upstream(current)), outcome)
            target = _pinned(answered.target)
            # The round's answer as its API decoded it for the client (parsed again: searches only).
            steps = answer.add(cast(Message, orjson.loads(answered.answer.body)))
            if steps:
                answer.add_results(await self.results(steps, spec))
            if not answer.next_round:
                message = answer.message()
                return Reply(orjson.dumps(message), message["usage"], message["stop_reason"]), target
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
    """The upstream stream and the `StreamRelay` of a streamed answer with searches (see the module)."""

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
        self._decoder = SSEDecoder()
        self._relay = self._relay_for(opened)
        self._between: asyncio.Task[list[StreamEvent]] | None = None
        self._queued: list[StreamEvent] = []
        self._resumed = False
        self._finished = False
        self._done = False
        self._has_content = False

    def _relay_for(self, opened: Answered[Prepared, UpstreamStream]) -> StreamRelay:
        """The round's relay, as its target's API makes it (and a fresh decoder for its frames)."""
        self._decoder = SSEDecoder()
        return upstream_api(opened.target.provider).relay(opened.prepared, self._search.secrets, self._label)

    def _round_events(self, frames: bytes) -> list[StreamEvent]:
        """The current round's events: its relay's SSE frames read back (only searching streams pay it)."""
        if not frames:
            return []
        return [cast(StreamEvent, orjson.loads(sse.data)) for sse in self._decoder.feed(frames)]

    # -- what the response and the record read (StreamRelay) --

    @property
    def done(self) -> bool:
        return self._done

    @property
    def has_content(self) -> bool:
        self._has_content = self._has_content or self._relay.has_content
        return self._has_content

    @property
    def usage(self) -> Usage:
        return self.events.usage or self._relay.usage

    @property
    def stop_reason(self) -> str | None:
        return self.events.stop_reason

    @property
    def error_type(self) -> ErrorType | None:
        return self.events.error_type

    def begin(self) -> bytes:
        return encode_all(self.events.feed(self._round_events(self._relay.begin())))

    def relay(self, raw: bytes) -> bytes:
        if self._resumed:
            self._resumed = False
            events, self._queued = self._queued, []
            self._done = self._finished
            return encode_all(events)
        events = self.events.feed(self._round_events(self._relay.relay(raw)))
        if self.events.failed:
            self._done = True
        elif self.events.round_over:
            steps = self.events.steps()
            if steps:
                self._between = asyncio.ensure_future(self._next_round(steps))
            else:
                events += self.events.finish()
                self._done = True
        return encode_all(events)

    def abort(self, error: ProxyError) -> bytes:
        if not self._done:
            logger.warning("%s stream failed: %s %s", self._label, error.error_type, error.message)
        return encode_all(self._fail(error))

    def _fail(self, error: ProxyError) -> list[StreamEvent]:
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
            return events + self._fail(error)
        self._upstream, self._relay = opened.answer, self._relay_for(opened)
        self.events.begin_round()
        return events + self.events.feed(self._round_events(self._relay.begin()))
