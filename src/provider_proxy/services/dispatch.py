"""One request's upstream call across a route's targets: the chosen target first, then its fallbacks,
until one answers, all within one deadline.

A target is left for the next one only when it fails before anything reached the client and the
failure could pass on another provider (`UpstreamError.retryable`: no connection, a timeout, 429,
5xx, 529, an "overloaded" answer, a 200 carrying an error). Retries of one target (in
`services.upstream`) and moves to the next share the deadline (TOTAL_TIMEOUT), so a client never
waits longer than that for an answer to start. Each target's circuit breaker (`services.breaker`)
puts a target that keeps failing at the back of the line for a cool-down. Every attempt is noted in
the `Outcome` for the log line and the usage record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, Generic, TypeVar

from provider_proxy.config.provider import Route
from provider_proxy.config.settings import Settings
from provider_proxy.conversion.apis import upstream_api
from provider_proxy.conversion.upstream_api import Prepared, Reply
from provider_proxy.errors import PromptTooLong, TargetUnfit, UpstreamError
from provider_proxy.services.breaker import CircuitBreakers
from provider_proxy.services.upstream import Outcome, UpstreamClient, UpstreamStream

logger = logging.getLogger(__name__)

# How long a new stream's first bytes are awaited before the stream is committed to the client.
# Providers that fail at once send the error with (or right after) the status; waiting longer would
# hold back message_start from a client whose upstream is merely slow to start (no content is ever
# held back: what arrives is passed on as soon as the stream is committed).
_FIRST_READ: Final = 0.25
P = TypeVar("P", bound=Prepared)
A = TypeVar("A")


class Answered(Generic[P, A]):
    """The target that answered, what was prepared for it (the body sent included), and its answer."""

    __slots__ = ("answer", "prepared", "target")

    def __init__(self, target: Route, prepared: P, answer: A) -> None:
        self.target = target
        self.prepared = prepared
        self.answer = answer


class Dispatcher:
    def __init__(self, upstream: UpstreamClient, settings: Settings) -> None:
        self.upstream = upstream
        self._total = settings.total_timeout
        self.breakers = CircuitBreakers(settings.breaker_failures, settings.breaker_cooldown)

    def complete(
        self, route: Route, prepare: Callable[[Route], P], outcome: Outcome
    ) -> Coroutine[Any, Any, Answered[P, Reply]]:
        """A non-streaming answer from the first target that gives one, decoded by the target's upstream
        API (an answer that is a failure moves on to the next target). (Plain methods handing back
        `_first`'s coroutine: one coroutine frame less to resume on every event of every request.)"""
        return self._first(route, prepare, self._complete, outcome)

    def open_stream(
        self, route: Route, prepare: Callable[[Route], P], outcome: Outcome
    ) -> Coroutine[Any, Any, Answered[P, UpstreamStream]]:
        """A stream whose status was 200, from the first target that opens one."""
        return self._first(route, prepare, self._open_checked, outcome)

    async def _complete(self, target: Route, prepared: P, outcome: Outcome, deadline: float) -> Reply:
        raw = await self.upstream.complete(target, prepared, outcome, deadline)
        return upstream_api(target.provider).decode(raw, prepared, self.upstream.secrets)

    async def _open_checked(self, target: Route, prepared: P, outcome: Outcome, deadline: float) -> UpstreamStream:
        stream = await self.upstream.open_stream(target, prepared, outcome, deadline)
        # Nothing has reached the client yet: a stream that fails at once can still fall back.
        wait = min(_FIRST_READ, deadline - asyncio.get_running_loop().time())
        try:
            first = await stream.peek(wait)
            api = upstream_api(target.provider)
            failure = None if first is None else api.failure_at_start(first, self.upstream.secrets)
        except UpstreamError as error:
            failure = error
        except BaseException:
            stream.close()  # cancelled (the client left): the connection goes at once
            raise
        if failure is not None:
            stream.close()
            raise failure
        return stream

    async def _first(
        self,
        route: Route,
        prepare: Callable[[Route], P],
        call: Callable[[Route, P, Outcome, float], Awaitable[A]],
        outcome: Outcome,
    ) -> Answered[P, A]:
        deadline = asyncio.get_running_loop().time() + self._total
        targets = route.targets
        if len(targets) > 1:
            targets = tuple(self.breakers.order(targets, _label))
        failure: UpstreamError | None = None
        unfit: list[TargetUnfit] = []
        for target in targets:
            try:
                # Translated for each target in turn: a fallback may be another provider with other rules,
                # and a larger window (a prompt too long for one target is checked before calling it).
                prepared = prepare(target)
                answer = await call(target, prepared, outcome, deadline)
            except TargetUnfit as error:
                outcome.attempts.append((target.label, _result(error)))
                unfit.append(error)
                failure = error
                continue
            except UpstreamError as error:
                outcome.attempts.append((target.label, _result(error)))
                failure = error
                if not error.retryable:
                    raise
                self.breakers.failed(target.label)
                if asyncio.get_running_loop().time() >= deadline:
                    break
                continue
            self.breakers.succeeded(target.label)
            if outcome.attempts:
                outcome.attempts.append((target.label, "answered"))
                logger.info("fallback: %s", outcome.summary())
            return Answered(target, prepared, answer)
        assert failure is not None
        if unfit and len(unfit) == len(outcome.attempts):
            # No target could take it. Too long for all: the numbers of the largest window, word for
            # word, so that Claude Code compacts just enough for the target that can take the most.
            too_long = [error for error in unfit if isinstance(error, PromptTooLong)]
            raise max(too_long, key=lambda error: error.maximum) if too_long else unfit[0]
        raise _all_failed(failure, outcome) if len(outcome.attempts) > 1 else failure


def _label(route: Route) -> str:
    return route.label


def _result(error: UpstreamError) -> str:
    return f"{error.error_type} ({error.status})"


def _all_failed(last: UpstreamError, outcome: Outcome) -> UpstreamError:
    """The last target's error, its message saying what every attempt did."""
    return UpstreamError(
        last.error_type,
        f"{last.message} (every target failed: {outcome.summary()})",
        status=last.status,
        headers=last.headers,
        retryable=last.retryable,
    )
