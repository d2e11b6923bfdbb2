"""The one pooled HTTP client for every upstream call.

Transport failures become `UpstreamError`s here and nowhere else. Requests are retried only before
the first byte of an answer: connection failures, 429 and 502/503/504, with backoff that honours
`retry-after` (up to a cap; a longer wait is passed to the client to decide).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any, Final

import msgspec
import orjson

from provider_proxy.config.proxy_config import Provider
from provider_proxy.config.settings import Settings
from provider_proxy.errors import UpstreamError, from_upstream_status
from provider_proxy.models.openai import ChatCompletion
from provider_proxy.services.http1 import ConnectError, HttpClient, HttpError, Response, Target, prepare
from provider_proxy.utils.logging import redact

logger = logging.getLogger(__name__)

_RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
_MAX_RETRY_AFTER: Final = 10.0
_DETAIL_LIMIT: Final = 600
_USER_AGENT: Final = "claude-code-provider-proxy"
_MAX_TARGETS: Final = 256
_completion_decoder = msgspec.json.Decoder(ChatCompletion)


@dataclass(slots=True)
class Outcome:
    """How an upstream call went, for the request log and the usage record."""

    retries: int = 0


def chat_url(provider: Provider, model: str) -> str:
    if provider.api_version is None:
        return provider.chat_url
    base = provider.base_url
    if "/deployments/" not in base:
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


def error_detail(raw: bytes) -> str:
    """The provider's own error message, from whichever shape it uses."""
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace").strip()[:_DETAIL_LIMIT]
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or error.get("msg")
            if message:
                return str(message)[:_DETAIL_LIMIT]
        elif isinstance(error, str):
            return error[:_DETAIL_LIMIT]
        for key in ("message", "detail"):
            if data.get(key):
                return str(data[key])[:_DETAIL_LIMIT]
    return raw.decode("utf-8", "replace").strip()[:_DETAIL_LIMIT]


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


class UpstreamClient:
    def __init__(self, settings: Settings, secrets: tuple[str, ...] = ()) -> None:
        self._settings = settings
        self._secrets = secrets
        self._http: HttpClient | None = None
        # Prepared once per (provider, model): the request line and headers are the same every call.
        self._targets: dict[tuple[str, str], Target] = {}

    def _target(self, provider: Provider, model: str) -> Target:
        key = (provider.name, model)
        target = self._targets.get(key)
        if target is None:
            if len(self._targets) >= _MAX_TARGETS:  # pass-through model names come from clients: stay bounded
                self._targets.clear()
            # Base URLs and headers were checked when the configuration was loaded.
            target = prepare("POST", chat_url(provider, model), request_headers(provider).items())
            self._targets[key] = target
        return target

    async def start(self) -> None:
        self._http = HttpClient(
            connect_timeout=self._settings.connect_timeout, read_timeout=self._settings.request_timeout
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            raise RuntimeError("UpstreamClient.start() was not awaited")
        return self._http

    async def complete(self, provider: Provider, model: str, body: bytes, outcome: Outcome) -> ChatCompletion:
        """A non-streaming completion."""
        response = await self._send(provider, model, body, outcome, whole=True)
        raw = await response.read()
        try:
            return _completion_decoder.decode(raw)
        except msgspec.DecodeError:
            snippet = redact(raw[:200].decode("utf-8", "replace"), self._secrets)
            raise UpstreamError(
                "api_error",
                f"Upstream provider answered HTTP 200 with a body that is not a chat completion: {snippet!r}",
                status=502,
            ) from None

    async def open_stream(self, provider: Provider, model: str, body: bytes, outcome: Outcome) -> Response:
        """A streaming completion whose status was 200; the caller reads and closes it."""
        return await self._send(provider, model, body, outcome, whole=False)

    async def _send(self, provider: Provider, model: str, body: bytes, outcome: Outcome, *, whole: bool) -> Response:
        """An answer with status 200, after retries of connection failures, 429 and 502/503/504."""
        target = self._target(provider, model)
        attempt = 0
        while True:
            try:
                response = await self.http.request(target, body, whole=whole)
            except (HttpError, TimeoutError) as exc:
                error = self._transport_error(exc, provider)
                delay = _retry_delay(attempt, None)
            else:
                if response.status == 200:
                    return response
                raw = await self._read_error(response)
                headers = response.headers
                retry_after = headers.get("retry-after")
                detail = redact(error_detail(raw), self._secrets)
                error = from_upstream_status(response.status, detail, retry_after, headers.get("location"))
                if response.status not in _RETRY_STATUSES:
                    raise error
                delay = _retry_delay(attempt, retry_after)
            if attempt >= self._settings.max_retries or delay is None:
                raise error
            attempt += 1
            outcome.retries = attempt
            logger.info("upstream %s failed (%s); retry %d in %.2fs", provider.name, error.message, attempt, delay)
            await asyncio.sleep(delay)

    async def _read_error(self, response: Response) -> bytes:
        try:
            return await response.read(self._settings.request_timeout)
        except (HttpError, TimeoutError):
            return b""
        finally:
            response.close()

    def _transport_error(self, exc: BaseException, provider: Provider) -> UpstreamError:
        if isinstance(exc, TimeoutError):
            return UpstreamError(
                "timeout_error",
                f"Upstream provider {provider.name!r} did not answer within the time limit "
                f"(REQUEST_TIMEOUT={self._settings.request_timeout:g}s, CONNECT_TIMEOUT="
                f"{self._settings.connect_timeout:g}s)",
            )
        if isinstance(exc, ConnectError):
            return UpstreamError(
                "api_error",
                f"Could not connect to upstream provider {provider.name!r} at {provider.base_url}: "
                f"{exc.error.strerror or exc.error}",
                status=502,
            )
        detail = redact(str(exc) or type(exc).__name__, self._secrets)
        return UpstreamError(
            "api_error", f"Connection to upstream provider {provider.name!r} failed: {detail}", status=502
        )
