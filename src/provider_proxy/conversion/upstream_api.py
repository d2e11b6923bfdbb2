"""The seam between the proxy and an upstream API: what one object per API provides.

A provider's profile names the API it speaks (`ProviderProfile.api`: "chat", "responses" or
"anthropic"; set by the kind, or by the provider entry's `api = "responses"`);
`conversion.apis.upstream_api` gives the object that speaks it. Everything that differs between
upstream APIs goes through that object, so the dispatcher, the upstream client and the handlers
never ask which API it is:

- `url` and `headers`: where a call goes and the headers every call to that provider carries;
- `prepare`: the client's request -> what is sent (`Prepared`: the body, per-request headers, notes);
- `decode`: a non-streaming answer (status 200) -> the client's response body and its usage (`Reply`),
  raising `UpstreamError` for an answer that is a failure (a 200 carrying an error still falls back);
  bytes that are not UTF-8 become replacement characters (`as_utf8`), as they do in a stream;
- `relay`: the stream translator for one streaming answer (`StreamRelay`);
- `failure_at_start`: the failure a stream's first read reports, if any (before anything reached the
  client, so the dispatcher can still move to a fallback);
- `error`: an error status and body -> the `UpstreamError` the client sees.

A new API is a module with one such object and a line in `conversion.apis`. Its translation stays
pure: the objects hold no state, do no I/O and read provider quirks from the profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import orjson

from provider_proxy.config.provider import Provider, Route
from provider_proxy.errors import ProxyError, UpstreamError, too_deeply_nested
from provider_proxy.models.anthropic import MessagesRequest
from provider_proxy.models.anthropic_output import ErrorType, Usage

Headers = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class ClientRequest:
    """What the client sent: the typed request, its raw JSON (for APIs that pass it through) and the
    Anthropic headers that may be relayed."""

    typed: MessagesRequest
    raw: bytes
    # The client's `anthropic-beta` header, as sent ("" when absent).
    betas: str = ""
    _json: dict[str, Any] | None = field(default=None, repr=False)

    def json(self) -> dict[str, Any]:
        """The raw body as a dict, parsed once for every target that passes it through (read-only:
        preparing a body copies what it changes)."""
        if self._json is None:
            self._json = client_json_object(self.raw)
        return self._json


def client_json_object(raw: bytes) -> dict[str, Any]:
    """A client body that decoded already, as a dict: orjson refuses only its depth (a 400)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise too_deeply_nested() from None
    if not isinstance(value, dict):
        raise TypeError("the client body was decoded as an object before")
    return value


def as_utf8(raw: bytes) -> bytes | None:
    """An answer body that is not UTF-8 (a character cut by the provider) with replacement characters,
    as a stream's bytes get them; None when it is UTF-8 already (its failure to decode is another)."""
    try:
        raw.decode()
    except UnicodeDecodeError:
        return raw.decode(errors="replace").encode()
    return None


class Prepared(Protocol):
    """What is sent to one target."""

    # The request body, as sent.
    body: bytes
    # Headers of this request only (e.g. the relayed `anthropic-beta`), after the provider's own.
    headers: Headers
    # Lines for the request log (what was left out or changed on the way).
    notes: tuple[str, ...]
    # The model the client asked for: the answer names it.
    requested: str


@dataclass(slots=True)  # not frozen: a frozen dataclass costs a microsecond to build, on every request
class Reply:
    """A non-streaming answer, translated: the response body for the client and what the record needs."""

    body: bytes
    usage: Usage
    stop_reason: str | None


class StreamState(Protocol):
    """What a stream tells about itself: a relay's, and a translator's (`conversion.stream_pipeline`)."""

    @property
    def done(self) -> bool: ...

    @property
    def has_content(self) -> bool: ...

    @property
    def usage(self) -> Usage: ...

    @property
    def stop_reason(self) -> str | None: ...

    @property
    def error_type(self) -> ErrorType | None: ...


class StreamRelay(StreamState, Protocol):
    """One streamed answer: upstream bytes in, the client's SSE bytes out, with no I/O.

    `begin` gives what is sent before anything arrives (a translator's `message_start`; b"" when the
    upstream's own is relayed); `relay` the bytes one upstream read completes (b"": the upstream closed);
    `abort` the final `error` event for a failure. After `message_stop` or an error, `done` is true.
    """

    def begin(self) -> bytes: ...

    def relay(self, raw: bytes) -> bytes: ...

    def abort(self, error: ProxyError) -> bytes: ...


P = TypeVar("P", bound=Prepared)


class UpstreamApi(Protocol[P]):
    """One upstream API (the module docstring says what each method is for); `P` is what its
    `prepare` makes, handed back to its `decode` and `relay`."""

    def url(self, provider: Provider, model: str) -> str: ...

    def headers(self, provider: Provider) -> dict[str, str]: ...

    def prepare(self, request: ClientRequest, route: Route) -> P: ...

    def decode(self, raw: bytes, prepared: P, secrets: tuple[str, ...]) -> Reply: ...

    def relay(self, prepared: P, secrets: tuple[str, ...], label: str) -> StreamRelay: ...

    def failure_at_start(self, raw: bytes, secrets: tuple[str, ...]) -> UpstreamError | None: ...

    def error(
        self, status: int, raw: bytes, headers: dict[str, str], secrets: tuple[str, ...], sent: int
    ) -> UpstreamError: ...
