"""The one pooled HTTP client for every upstream call, and the one boundary for its failures.

Transport failures (`services.http1`'s exceptions and timeouts) become `UpstreamError`s here and
nowhere else: opening a call, reading a stream (`UpstreamStream`) and probing a provider for
`check`. Nothing above this module sees the HTTP client's own types. Requests are retried only before
the first byte of an answer: connection failures, 429 and 502/503/504, with backoff that honours
`retry-after` (up to a cap; a longer wait is passed to the client to decide). Where a call goes, its
headers and what an error status means come from the provider's upstream API
(`conversion.upstream_api`); the body is the caller's, prepared by that API, and so is the answer.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import Final, Protocol

from provider_proxy.config.provider import Provider, Route
from provider_proxy.config.settings import Settings
from provider_proxy.conversion.apis import upstream_api
from provider_proxy.conversion.upstream_api import Headers, Prepared
from provider_proxy.errors import UpstreamError, error_detail
from provider_proxy.services.http1 import (
    ConnectError,
    HttpClient,
    HttpError,
    LimitError,
    PoolTimeout,
    ProxyConfigError,
    ProxyRefused,
    Response,
    Target,
    prepare,
)
from provider_proxy.services.http1.client import MAX_CONNECTIONS_PER_ORIGIN
from provider_proxy.utils.cache import BoundedCache
from provider_proxy.utils.logging import redact

logger = logging.getLogger(__name__)

_MAX_RETRY_AFTER: Final = 10.0
_MAX_TARGETS: Final = 256
_PROBE_TIMEOUT: Final = 15.0


@dataclass(slots=True)
class Outcome:
    """How an upstream call went, for the request log and the usage record: retries of one target
    (all targets together) and, per target tried, how it ended."""

    retries: int = 0
    attempts: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return "; ".join(f"{target}: {result}" for target, result in self.attempts)


def _retry_delay(attempt: int, retry_after: str | None) -> float | None:
    """Seconds to wait before the next attempt, or None when the wait is too long to hold the client."""
    if retry_after:
        try:
            seconds = float(retry_after)
        except ValueError:
            seconds = _MAX_RETRY_AFTER + 1
        return seconds if seconds <= _MAX_RETRY_AFTER else None
    backoff: float = min(0.25 * 2**attempt, 4.0)
    return backoff * (0.5 + random.random() / 2)


class ByteStream(Protocol):
    """What the event stream reads: an `UpstreamStream`, or one that strings several together."""

    async def read(self, wait: float) -> bytes | None: ...

    def close(self) -> None: ...


class UpstreamStream:
    """A streaming answer whose status was 200: its body as it arrives, failures as `UpstreamError`."""

    __slots__ = ("_peeked", "_response")

    def __init__(self, response: Response) -> None:
        self._response = response
        self._peeked: bytes | None = None

    async def peek(self, wait: float) -> bytes | None:
        """The first bytes, kept for the next `read`; None when nothing came within `wait` seconds."""
        self._peeked = await self.read(wait)
        return self._peeked

    async def read(self, wait: float) -> bytes | None:
        """The next bytes (b"" at the end), or None when the upstream stayed silent for `wait` seconds."""
        peeked = self._peeked
        if peeked is not None:
            self._peeked = None
            return peeked
        try:
            return await self._response.readany(max(wait, 0))
        except HttpError as exc:
            raise UpstreamError("api_error", f"Upstream stream broke off: {exc}", status=502, retryable=True) from None

    def close(self) -> None:
        """A complete answer has gone back to the pool already; an unfinished one is dropped."""
        self._response.close()


class UpstreamClient:
    def __init__(self, settings: Settings, secrets: tuple[str, ...] = ()) -> None:
        self._settings = settings
        self.secrets = secrets
        # One pool of connections per provider: each has its own timeouts, proxy and concurrency cap.
        self._clients: dict[str, HttpClient] = {}
        self._started = False
        # Prepared once per (provider, model, request headers): the request line and headers are the same
        # every call. Pass-through model names come from clients, so the table is bounded.
        self._targets: BoundedCache[tuple[str, str, Headers], Target] = BoundedCache(_MAX_TARGETS)

    def _target(self, provider: Provider, model: str, extra: Headers) -> Target:
        key = (provider.name, model, extra)
        target = self._targets.get(key)
        if target is None:
            # Base URLs and headers were checked when the configuration was loaded.
            api = upstream_api(provider)
            headers = [*api.headers(provider).items(), *extra]
            target = prepare("POST", api.url(provider, model), headers)
            self._targets.put(key, target)
        return target

    async def start(self) -> None:
        self._started = True

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()
        self._started = False

    @property
    def connection_count(self) -> int:
        """Upstream connections open over every provider, in use or idle."""
        return sum(client.connection_count for client in self._clients.values())

    def http(self, provider: Provider) -> HttpClient:
        """The provider's connection pool, made on first use."""
        client = self._clients.get(provider.name)
        if client is None:
            if not self._started:
                raise RuntimeError("UpstreamClient.start() was not awaited")
            settings = self._settings
            client = self._clients[provider.name] = HttpClient(
                connect_timeout=provider.connect_timeout or settings.connect_timeout,
                read_timeout=provider.request_timeout or settings.request_timeout,
                max_connections_per_origin=provider.max_concurrency or MAX_CONNECTIONS_PER_ORIGIN,
                proxy=provider.proxy,
            )
        return client

    async def complete(self, route: Route, prepared: Prepared, outcome: Outcome, deadline: float) -> bytes:
        """The body of a non-streaming answer with status 200, by the loop time `deadline` (the route's
        upstream API decodes it)."""
        target = self._target(route.provider, route.model, prepared.headers)
        response = await self._send(route.provider, target, prepared.body, outcome, deadline, whole=True)
        return await response.read()

    async def open_stream(self, route: Route, prepared: Prepared, outcome: Outcome, deadline: float) -> UpstreamStream:
        """A streaming answer whose status was 200 by the loop time `deadline`; the caller reads and
        closes it."""
        target = self._target(route.provider, route.model, prepared.headers)
        return UpstreamStream(await self._send(route.provider, target, prepared.body, outcome, deadline, whole=False))

    async def post(self, provider: Provider, url: str, headers: Headers, body: bytes, timeout: float) -> bytes:
        """One call to another endpoint of the provider (e.g. count_tokens), without retries: the body of
        its 200 answer, or the error it answered (as `UpstreamError`)."""
        target = prepare("POST", url, [*upstream_api(provider).headers(provider).items(), *headers])
        deadline = asyncio.get_running_loop().time() + timeout
        response = await self._send(provider, target, body, Outcome(), deadline, whole=True, retries=0)
        return await response.read()

    async def probe(self, provider: Provider, timeout: float = _PROBE_TIMEOUT) -> tuple[int, str]:
        """`GET /models` with the provider's key, for `check --probe`: (status, the provider's message)."""
        target = prepare("GET", provider.models_url, upstream_api(provider).headers(provider).items())
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            response = await self.http(provider).request(target, b"", deadline=deadline)
            raw = await response.read(timeout)
        except (HttpError, TimeoutError) as exc:
            raise self._transport_error(exc, provider) from None
        return response.status, redact(error_detail(raw), self.secrets)

    async def _send(
        self,
        provider: Provider,
        target: Target,
        body: bytes,
        outcome: Outcome,
        deadline: float,
        *,
        whole: bool,
        retries: int | None = None,
    ) -> Response:
        """An answer with status 200 by the loop time `deadline`, after retries of retryable failures."""
        http = self.http(provider)
        max_retries = self._settings.max_retries if retries is None else retries
        loop = asyncio.get_running_loop()
        if provider.total_timeout is not None:
            deadline = min(deadline, loop.time() + provider.total_timeout)
        attempt = 0
        while True:
            try:
                response = await http.request(target, body, whole=whole, deadline=deadline)
            except (HttpError, TimeoutError) as exc:
                error = self._transport_error(exc, provider, deadline_passed=loop.time() >= deadline)
                if not error.retryable:
                    raise error from None
                delay = _retry_delay(attempt, None)
            else:
                if response.status == 200:
                    return response
                raw = await self._read_error(response)
                headers = response.headers
                error = upstream_api(provider).error(response.status, raw, headers, self.secrets, len(body))
                if not error.retryable:
                    raise error
                delay = _retry_delay(attempt, headers.get("retry-after"))
            if attempt >= max_retries or delay is None or loop.time() + delay >= deadline:
                raise error
            attempt += 1
            outcome.retries += 1
            logger.info("upstream %s failed (%s); retry %d in %.2fs", provider.name, error.message, attempt, delay)
            await asyncio.sleep(delay)

    async def _read_error(self, response: Response) -> bytes:
        try:
            return await response.read(self._settings.request_timeout)
        except (HttpError, TimeoutError):
            return b""
        finally:
            response.close()

    def _transport_error(self, exc: BaseException, provider: Provider, deadline_passed: bool = False) -> UpstreamError:
        """The one mapping of the HTTP client's failures to what a client is told."""
        settings = self._settings
        if isinstance(exc, TimeoutError):  # DeadlineExceeded included
            limits = (
                f"TOTAL_TIMEOUT={provider.total_timeout or settings.total_timeout:g}s"
                if deadline_passed
                else f"REQUEST_TIMEOUT={provider.request_timeout or settings.request_timeout:g}s, "
                f"CONNECT_TIMEOUT={provider.connect_timeout or settings.connect_timeout:g}s"
            )
            return UpstreamError(
                "timeout_error",
                f"Upstream provider {provider.name!r} did not answer within the time limit ({limits})",
                retryable=not deadline_passed,
            )
        if isinstance(exc, ConnectError):
            return UpstreamError(
                "api_error",
                f"Could not connect to upstream provider {provider.name!r} at {provider.base_url}: {exc}",
                status=502,
                retryable=True,
            )
        if isinstance(exc, PoolTimeout):
            return UpstreamError(
                "overloaded_error",
                f"Upstream provider {provider.name!r} has {provider.max_concurrency or MAX_CONNECTIONS_PER_ORIGIN} "
                "requests in flight already (its max_concurrency); try again shortly",
                retryable=True,
            )
        if isinstance(exc, LimitError | ProxyRefused | ProxyConfigError):
            # Deterministic: the same answer or setting would fail again.
            detail = redact(str(exc), self.secrets)
            return UpstreamError("api_error", f"Upstream provider {provider.name!r}: {detail}", status=502)
        detail = redact(str(exc) or type(exc).__name__, self.secrets)
        return UpstreamError(
            "api_error",
            f"Connection to upstream provider {provider.name!r} failed: {detail}",
            status=502,
            retryable=True,
        )
