"""An Anthropic-API upstream's event stream, relayed to the client (no I/O).

The events are already what the client expects, so each one is passed on as it came, except:
- `message_start`: its `model` becomes the model the client asked for, and its usage is read;
- `message_delta`: its stop reason and usage are read (the counts in it are cumulative);
- `error`: its message is redacted, and the stream ends with it.
Only those are parsed: content deltas, the block starts and stops and pings go through as text. A
stream that closes before `message_stop`, or a line longer than the SSE limit, ends with one `error`
event of the proxy's, as on the Chat Completions path.
"""

from __future__ import annotations

import logging
from typing import Any, Final, Literal

import orjson

from provider_proxy.errors import (
    ERROR_STATUS,
    RETRYABLE_STATUSES,
    ProxyError,
    UpstreamError,
    error_payload,
    overloaded,
)
from provider_proxy.models.anthropic_output import ErrorType, Usage
from provider_proxy.utils.logging import redact
from provider_proxy.utils.sse import LineTooLong, ServerSentEvent, SSEDecoder, encode

logger = logging.getLogger(__name__)

UsageKey = Literal["input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"]
_USAGE_KEYS: Final[tuple[UsageKey, ...]] = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
# Error types worth another attempt, on the same target or the next.
_RETRYABLE_TYPES: Final = frozenset({"overloaded_error", "rate_limit_error", "api_error", "timeout_error"})
_CONTENT: Final = frozenset({"content_block_start", "content_block_delta"})


def error_type_of(value: object) -> ErrorType | None:
    """`value` when it is one of Anthropic's error types."""
    return value if isinstance(value, str) and value in ERROR_STATUS else None


def anthropic_failure(data: Any, secrets: tuple[str, ...], status: int | None) -> UpstreamError | None:
    """`{"type": "error", "error": {"type": ..., "message": ...}}` as an `UpstreamError` with that type, the
    given status (else the type's own) and the message redacted; None for any other shape."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None
    error_type = error_type_of(error.get("type")) or "api_error"
    message = redact(str(error.get("message") or error.get("type") or "unknown error"), secrets)
    retryable = error_type in _RETRYABLE_TYPES or overloaded(message)
    if status is not None:
        retryable = status in RETRYABLE_STATUSES or overloaded(message)
    return UpstreamError(error_type, message, status=status or ERROR_STATUS[error_type], retryable=retryable)


def usage_from(raw: Any, into: Usage | None = None) -> Usage:
    """Anthropic usage as the record keeps it: the counts present in `raw` over those in `into`."""
    usage: Usage = (
        into
        if into is not None
        else {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    )
    if isinstance(raw, dict):
        for key in _USAGE_KEYS:
            value = raw.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                usage[key] = value
    return usage


def _frame(name: str, data: str) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + data.encode() + b"\n\n"


class AnthropicRelay:
    """One relayed stream: what it has said so far (usage, stop reason, error) and whether it is over."""

    __slots__ = (
        "_decoder",
        "_done",
        "_label",
        "_model",
        "_secrets",
        "error_type",
        "has_content",
        "stop_reason",
        "usage",
    )

    def __init__(self, requested_model: str, secrets: tuple[str, ...] = (), label: str = "-") -> None:
        self._model = requested_model
        self._secrets = secrets
        self._label = label
        self._decoder = SSEDecoder()
        self._done = False
        self.has_content = False
        self.usage: Usage = usage_from(None)
        self.stop_reason: str | None = None
        self.error_type: ErrorType | None = None

    @property
    def done(self) -> bool:
        return self._done

    def begin(self) -> bytes:
        return b""  # the upstream's own message_start opens the stream

    def relay(self, raw: bytes) -> bytes:
        if self._done:
            return b""
        frames: list[bytes] = []
        try:
            events = self._decoder.feed(raw) if raw else self._decoder.close()
            for sse in events:
                frames.append(self._event(sse))
                if self.done:
                    break
        except LineTooLong as exc:
            return self.abort(
                UpstreamError(
                    "api_error",
                    f"Upstream provider sent an event-stream line longer than {exc.limit} characters "
                    "(the proxy's limit for one SSE line); the stream was stopped",
                    status=502,
                )
            )
        except ProxyError as error:
            return b"".join(frames) + self.abort(error)
        if not raw and not self._done:
            closed = UpstreamError("api_error", "Upstream provider ended the stream before message_stop", status=502)
            frames.append(self.abort(closed))
        return b"".join(frames)

    def abort(self, error: ProxyError) -> bytes:
        if self._done:
            return b""
        logger.warning("%s stream failed: %s %s", self._label, error.error_type, error.message)
        self._done = True
        self.error_type = error.error_type
        return encode("error", error_payload(error))

    def _event(self, sse: ServerSentEvent) -> bytes:
        name, data = sse.event, sse.data
        if name == "message":  # no `event:` line: the type is in the data
            name = str(self._parsed(data).get("type", "message"))
        if name in _CONTENT:
            self.has_content = True
        elif name == "message_start":
            data = self._start(data)
        elif name == "message_delta":
            self._delta(data)
        elif name == "message_stop":
            self._done = True
        elif name == "error":
            data = self._error(data)
        return _frame(name, data)

    def _parsed(self, data: str) -> dict[str, Any]:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            snippet = redact(data[:200], self._secrets)
            raise UpstreamError(
                "api_error", f"Upstream provider sent an event that is not JSON: {snippet!r}", status=502
            )
        return value

    def _start(self, data: str) -> str:
        event = self._parsed(data)
        message = event.get("message")
        if isinstance(message, dict):
            message["model"] = self._model
            usage_from(message.get("usage"), self.usage)
        return orjson.dumps(event).decode()

    def _delta(self, data: str) -> None:
        event = self._parsed(data)
        delta = event.get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
            self.stop_reason = delta["stop_reason"]
        usage_from(event.get("usage"), self.usage)

    def _error(self, data: str) -> str:
        """The provider's error event, redacted; the stream ends with it."""
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            event = None
        failure = anthropic_failure(event, self._secrets, None) or UpstreamError(
            "api_error", f"Upstream provider failed mid-stream: {redact(data[:200], self._secrets)}", status=502
        )
        logger.warning("%s stream failed: %s %s", self._label, failure.error_type, failure.message)
        self._done = True
        self.error_type = failure.error_type
        return orjson.dumps(error_payload(failure)).decode()
