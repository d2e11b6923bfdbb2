"""The one pooled HTTP client for every upstream call, and the one boundary for its failures.

Transport failures (`services.http1`'s exceptions and timeouts) become `UpstreamError`s here and
nowhere else: opening a call, reading a stream (`UpstreamStream`) and probing a provider for
`check`. Nothing above this module sees the HTTP client's own types. Requests are retried only before
the first byte of an answer: connection failures, 429 and 502/503/504, with backoff that honours
`retry-after` (up to a cap; a longer wait is passed to the client to decide).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from dataclasses import dataclass, field
from typing import Final, Protocol

import msgspec

from provider_proxy.config.provider import Provider
from provider_proxy.config.settings import Settings
from provider_proxy.conversion.responses_response import decode_response
from provider_proxy.conversion.upstream_api import Answer
from provider_proxy.errors import (
    UnsafeModelName,
    UpstreamError,
    context_length_error,
    error_detail,
    from_upstream_status,
)
from provider_proxy.models.openai import ChatCompletion
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
_USER_AGENT: Final = "claude-code-provider-proxy"
_MAX_TARGETS: Final = 256
_PROBE_TIMEOUT: Final = 15.0
# The most of a redirect's Location an error message shows.
_LOCATION_SHOWN: Final = 300
_completion_decoder = msgspec.json.Decoder(ChatCompletion)
# One URL path segment of RFC 3986's unreserved characters: nothing a server decodes or splits on.
_PATH_SEGMENT: Final = re.compile(r"[A-Za-z0-9._~-]+")


@dataclass(slots=True)
class Outcome:
    """How an upstream call went, for the request log and the usage record: retries of one target
    (all targets together) and, per target tried, how it ended."""

    retries: int = 0
    attempts: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return "; ".join(f"{target}: {result}" for target, result in self.attempts)


def chat_url(provider: Provider, model: str) -> str:
    """The completions URL (or the Responses API's, for a provider that speaks it); for Azure's chat
    completions the model (the deployment) is a path segment, so a name that is not exactly one safe
    segment is refused (`UnsafeModelName`) rather than sent."""
    if provider.api == "responses":
        return provider.responses_url
    if provider.api_version is None:
        return provider.chat_url
    base = provider.base_url
    if "/deployments/" not in base:
        if not _PATH_SEGMENT.fullmatch(model) or model in (".", ".."):
            raise UnsafeModelName(model)
        base = f"{base}/openai/deployments/{model}"
    return f"{base}/chat/completions?api-version={provider.api_version}"


def request_headers(provider: Provider) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": _USER_AGENT}
    if provider.api_key:
        if provider.profile.auth_header == "api-key":
            headers["api-key"] = provider.api_key
        else:
            headers["Authorization"] = f"Bearer {provider.api_key}"
    headers.update(provider.profile.extra_headers)
    headers.update(provider.headers)
    return headers


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
        # Prepared once per (provider, model): the request line and headers are the same every call.
        # Pass-through model names come from clients, so the table is bounded.
        self._targets: BoundedCache[tuple[str, str], Target] = BoundedCache(_MAX_TARGETS)

    def _target(self, provider: Provider, model: str) -> Target:
        key = (provider.name, model)
        target = self._targets.get(key)
        if target is None:
            # Base URLs and headers were checked when the configuration was loaded.
            target = prepare("POST", chat_url(provider, model), request_headers(provider).items())
            self._targets.put(key, target)
        return target

    async def start(self) -> None:
        self._started = True

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()
        self._started = False

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

    async def complete(self, provider: Provider, model: str, body: bytes, outcome: Outcome, deadline: float) -> Answer:
        """A non-streaming completion (or Responses API response), by the loop time `deadline`."""
        response = await self._send(provider, model, body, outcome, deadline, whole=True)
        raw = await response.read()
        if provider.api == "responses":
            return decode_response(raw, self.secrets)
        try:
            completion = _completion_decoder.decode(raw)
        except msgspec.DecodeError:
            snippet = redact(raw[:200].decode("utf-8", "replace"), self.secrets)
            raise UpstreamError(
                "api_error",
                f"Upstream provider answered HTTP 200 with a body that is not a chat completion: {snippet!r}",
                status=502,
                retryable=True,
            ) from None
        if completion.error is not None or not completion.choices:
            raise _error_in_answer(completion, self.secrets)
        return completion

    async def open_stream(
        self, provider: Provider, model: str, body: bytes, outcome: Outcome, deadline: float
    ) -> UpstreamStream:
        """A streaming completion whose status was 200 by the loop time `deadline`; the caller reads and
        closes it."""
        return UpstreamStream(await self._send(provider, model, body, outcome, deadline, whole=False))

    async def probe(self, provider: Provider, timeout: float = _PROBE_TIMEOUT) -> tuple[int, str]:
        """`GET /models` with the provider's key, for `check --probe`: (status, the provider's message)."""
        target = prepare("GET", provider.models_url, request_headers(provider).items())
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            response = await self.http(provider).request(target, b"", deadline=deadline)
            raw = await response.read(timeout)
        except (HttpError, TimeoutError) as exc:
            raise self._transport_error(exc, provider) from None
        return response.status, redact(error_detail(raw), self.secrets)

    async def _send(
        self, provider: Provider, model: str, body: bytes, outcome: Outcome, deadline: float, *, whole: bool
    ) -> Response:
        """An answer with status 200 by the loop time `deadline`, after retries of retryable failures."""
        target = self._target(provider, model)
        http = self.http(provider)
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
                retry_after = headers.get("retry-after")
                detail = redact(error_detail(raw), self.secrets)
                location = headers.get("location")
                if location is not None:
                    location = redact(location, self.secrets)[:_LOCATION_SHOWN]  # redacted whole, then cut
                error = from_upstream_status(response.status, detail, retry_after, location)
                error = context_length_error(raw.decode("utf-8", "replace"), len(body) // 4) or error
                if not error.retryable:
                    raise error
                delay = _retry_delay(attempt, retry_after)
            if attempt >= self._settings.max_retries or delay is None or loop.time() + delay >= deadline:
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


def _error_in_answer(completion: ChatCompletion, secrets: tuple[str, ...]) -> UpstreamError:
    """A 200 whose body is an error object (OpenRouter does this) or has no choices."""
    error = completion.error
    if error is None:
        return UpstreamError(
            "api_error", "Upstream provider returned no completion: no choices in the response", status=502
        )
    detail = redact(error.message or error.type or "unknown error", secrets)
    code = error.code if isinstance(error.code, int) else None
    failure = from_upstream_status(code or 502, detail)
    return UpstreamError(
        failure.error_type,
        f"Upstream provider returned no completion: {detail}",
        status=502,
        retryable=failure.retryable or code is None,
    )
