"""The OpenAI Chat Completions API as an upstream (`api = "chat"`, most profiles): the request translated
(`conversion.request`), the answer translated back (`conversion.response`), the stream through the
translator (`conversion.stream_pipeline`). See `conversion.upstream_api` for the seam it fills.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Generic, Protocol, TypeVar

import msgspec
import orjson

from provider_proxy.config.provider import Provider, Route
from provider_proxy.conversion.request import Translation, to_openai
from provider_proxy.conversion.response import to_anthropic
from provider_proxy.conversion.stream import StreamTranslator
from provider_proxy.conversion.stream_pipeline import EventPipeline, error_at_start
from provider_proxy.conversion.upstream_api import ClientRequest, Headers, Reply, as_utf8
from provider_proxy.errors import (
    UnsafeModelName,
    UpstreamError,
    context_length_error,
    error_detail,
    from_upstream_status,
    not_an_answer,
)
from provider_proxy.models.openai import ChatCompletion
from provider_proxy.utils.logging import redact

_USER_AGENT: Final = "claude-code-provider-proxy"
# The most of a redirect's Location an error message shows.
_LOCATION_SHOWN: Final = 300
# One URL path segment of RFC 3986's unreserved characters: nothing a server decodes or splits on.
_PATH_SEGMENT: Final = re.compile(r"[A-Za-z0-9._~-]+")
_completion_decoder = msgspec.json.Decoder(ChatCompletion)


def estimate_input_tokens(body: bytes) -> int:
    """A quick figure for a stream's `message_start` (and an answer without usage), from the size of
    the upstream body (about four bytes a token); the provider's own count follows when it gives one."""
    return len(body) // 4


class _Noted(Protocol):
    @property
    def notes(self) -> tuple[str, ...]: ...


TranslationT = TypeVar("TranslationT", bound=_Noted)


@dataclass(slots=True)
class TranslatedCall(Generic[TranslationT]):
    """A request for one target of an OpenAI API: the translation and the body sent."""

    translation: TranslationT
    body: bytes
    requested: str
    headers: Headers = ()

    @property
    def notes(self) -> tuple[str, ...]:
        return self.translation.notes


@dataclass(slots=True)
class ChatCall(TranslatedCall[Translation]):
    """A Chat Completions request for one target (its own class: only its body is fitted to the window)."""


def chat_url(provider: Provider, model: str) -> str:
    """The completions URL; for Azure the model (the deployment) is a path segment, so a name that is
    not exactly one safe segment is refused (`UnsafeModelName`) rather than sent."""
    if provider.api_version is None:
        return provider.chat_url
    base = provider.base_url
    if "/deployments/" not in base:
        if not _PATH_SEGMENT.fullmatch(model) or model in (".", ".."):
            raise UnsafeModelName(model)
        base = f"{base}/openai/deployments/{model}"
    return f"{base}/chat/completions?api-version={provider.api_version}"


def provider_headers(provider: Provider, api_headers: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """The headers of every call to `provider`: the key as its profile wants it and the API's own
    headers, then the profile's and the configuration's (which win)."""
    headers = {"Content-Type": "application/json", "User-Agent": _USER_AGENT, **dict(api_headers)}
    if provider.api_key:
        match provider.profile.auth_header:
            case "api-key":
                headers["api-key"] = provider.api_key
            case "x-api-key":
                headers["x-api-key"] = provider.api_key
            case "bearer":
                headers["Authorization"] = f"Bearer {provider.api_key}"
    headers.update(provider.profile.extra_headers)
    headers.update(provider.headers)
    return headers


def status_error(
    status: int, raw: bytes, headers: dict[str, str], secrets: tuple[str, ...], sent: int
) -> UpstreamError:
    """An error status in any provider's wording: typed by the status, the provider's message kept
    (redacted), `retry-after` passed on, a context-window answer in Anthropic's words."""
    detail = redact(error_detail(raw), secrets)
    location = headers.get("location")
    if location is not None:
        location = redact(location, secrets)[:_LOCATION_SHOWN]  # redacted whole, then cut
    error = from_upstream_status(status, detail, headers.get("retry-after"), location)
    return context_length_error(raw.decode("utf-8", "replace"), sent // 4) or error


def _decode_completion(raw: bytes) -> ChatCompletion:
    try:
        return _completion_decoder.decode(raw)
    except msgspec.DecodeError:
        replaced = as_utf8(raw)
        if replaced is None:
            raise
        return _completion_decoder.decode(replaced)


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


class OpenAIFamily:
    """What the OpenAI APIs (Chat Completions, Responses) share: the key and headers, and error statuses."""

    def headers(self, provider: Provider) -> dict[str, str]:
        return provider_headers(provider)

    def error(
        self, status: int, raw: bytes, headers: dict[str, str], secrets: tuple[str, ...], sent: int
    ) -> UpstreamError:
        return status_error(status, raw, headers, secrets, sent)


class ChatCompletionsApi(OpenAIFamily):
    def url(self, provider: Provider, model: str) -> str:
        return chat_url(provider, model)

    def prepare(self, request: ClientRequest, route: Route) -> ChatCall:
        translation = to_openai(request.typed, route)
        return ChatCall(translation, orjson.dumps(translation.body), request.typed.model)

    def decode(self, raw: bytes, prepared: ChatCall, secrets: tuple[str, ...]) -> Reply:
        try:
            completion = _decode_completion(raw)
        except msgspec.DecodeError:
            raise not_an_answer("a chat completion", raw, secrets) from None
        if completion.error is not None or not completion.choices:
            raise _error_in_answer(completion, secrets)
        estimate = 0 if completion.usage else estimate_input_tokens(prepared.body)
        message = to_anthropic(completion, prepared.requested, prepared.translation, estimate)
        return Reply(orjson.dumps(message), message["usage"], message["stop_reason"])

    def relay(self, prepared: ChatCall, secrets: tuple[str, ...], label: str) -> EventPipeline:
        translator = StreamTranslator(prepared.requested, prepared.translation, estimate_input_tokens(prepared.body))
        return EventPipeline(translator, secrets, label)

    def failure_at_start(self, raw: bytes, secrets: tuple[str, ...]) -> UpstreamError | None:
        return error_at_start(raw, secrets)
