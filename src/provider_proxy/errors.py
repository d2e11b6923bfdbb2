"""Every failure the proxy reports, and how it maps to Anthropic's error shape.

The tree is deliberately flat:

    ProxyError                  carries the Anthropic error type, HTTP status and a message
      UnsafeModelName           a model name that would leave its place in the upstream URL
      UpstreamError             the provider answered with an error status, or not at all

Anything raised inside the proxy ends up as one `error_payload`, so a client always sees
`{"type": "error", "error": {"type": ..., "message": ...}}` (as a response body or a stream event).
Upstream statuses are mapped to Anthropic error types in one table (`_UPSTREAM_STATUS`); transport
failures are converted once, in `services.upstream`; whatever else escapes becomes `internal_error`.
"""

from __future__ import annotations

import re
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Final

import orjson

from provider_proxy.models.anthropic_output import ErrorBody, ErrorType
from provider_proxy.utils.logging import redact

# Anthropic's error types and the status each one is served with.
ERROR_STATUS: Final[dict[ErrorType, int]] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class ProxyError(Exception):
    """An error the client should see, already phrased for it."""

    def __init__(
        self,
        error_type: ErrorType,
        message: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status if status is not None else ERROR_STATUS.get(error_type, 500)
        self.headers = headers or {}


def invalid_request(message: str) -> ProxyError:
    return ProxyError("invalid_request_error", message)


class UnsafeModelName(ProxyError):
    """A requested model name that cannot go into an upstream URL path as one segment (Azure puts the
    deployment there): `../`, `?`, `#`, `/` or a percent sign would let a client steer the proxy's key to
    another path of the provider. Refused with a 400 before anything is sent."""

    def __init__(self, model: str) -> None:
        shown = model if len(model) <= _MODEL_SHOWN else model[:_MODEL_SHOWN] + "..."
        super().__init__(
            "invalid_request_error",
            f"model: {shown!r} cannot name a deployment of this provider: the name goes into the URL path and "
            "must be one path segment of letters, digits, '-', '_', '.' and '~' (and not '.' or '..')",
        )


_MODEL_SHOWN: Final = 200


class UpstreamError(ProxyError):
    """The provider failed: an error status, a broken body, a timeout or a refused connection.

    `retryable` failures (no connection, a timeout, 429, 5xx, 529, an "overloaded" answer) may succeed
    on another attempt or another target; the others (a bad request, a bad key) would fail again.
    """

    def __init__(
        self,
        error_type: ErrorType,
        message: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(error_type, message, status=status, headers=headers)
        self.retryable = retryable


# How much of a broken upstream body or stream event an error message quotes (keys redacted).
SNIPPET: Final = 200


def not_an_answer(what: str, raw: bytes, secrets: tuple[str, ...]) -> UpstreamError:
    """A 200 answer whose body is not `what` ("a chat completion", ...): a retryable 502 quoting its start."""
    snippet = redact(raw[:SNIPPET].decode("utf-8", "replace"), secrets)
    return UpstreamError(
        "api_error",
        f"Upstream provider answered HTTP 200 with a body that is not {what}: {snippet!r}",
        status=502,
        retryable=True,
    )


# How deep client JSON may nest: orjson, which writes the upstream request, stops at this depth (and
# msgspec and Python's recursion near 1,000). Deeper JSON is the client's error, never an internal one.
JSON_DEPTH_LIMIT: Final = 254


def too_deeply_nested() -> ProxyError:
    return invalid_request(
        f"Request JSON is nested too deeply: the proxy takes at most {JSON_DEPTH_LIMIT} levels of nesting "
        "(look at the tools' input_schema and the tool_use inputs)"
    )


def is_nesting_error(exc: BaseException) -> bool:
    """A failure that nesting beyond `JSON_DEPTH_LIMIT` causes: Python's or msgspec's recursion limit,
    or orjson refusing to write."""
    return isinstance(exc, RecursionError) or (
        isinstance(exc, orjson.JSONEncodeError) and "Recursion limit" in str(exc)
    )


def integer_out_of_range() -> ProxyError:
    return invalid_request(
        "Request JSON holds an integer outside the 64-bit range the proxy and providers take "
        f"({-(2**63)} to {2**64 - 1}); look at the tools' input_schema and the tool_use inputs"
    )


def client_json_error(exc: BaseException) -> ProxyError | None:
    """The client's 400 for a failure that valid but unusual request JSON causes (nesting beyond
    `JSON_DEPTH_LIMIT`, an integer orjson cannot write), or None for any other failure."""
    if is_nesting_error(exc):
        return too_deeply_nested()
    if isinstance(exc, orjson.JSONEncodeError) and "Integer exceeds 64-bit range" in str(exc):
        return integer_out_of_range()
    return None


def internal_error(request_id: str) -> ProxyError:
    """What a client sees when the proxy itself failed; the traceback is in the log under `request_id`."""
    return ProxyError("api_error", f"Internal proxy error; see the proxy log for {request_id}")


# Upstream HTTP status -> (Anthropic error type, status we answer with, hint for the user).
_UPSTREAM_STATUS: Final[dict[int, tuple[ErrorType, int, str]]] = {
    400: ("invalid_request_error", 400, ""),
    401: (
        "authentication_error",
        401,
        "the provider rejected the proxy's API key; check the key configured for it",
    ),
    402: ("billing_error", 402, "the provider account needs credit"),
    403: ("permission_error", 403, "the provider's key may not use this model or endpoint"),
    404: ("not_found_error", 404, "check the upstream model name and the provider's base URL"),
    408: ("timeout_error", 504, ""),
    409: ("api_error", 500, ""),
    413: ("request_too_large", 413, ""),
    422: ("invalid_request_error", 400, ""),
    429: ("rate_limit_error", 429, ""),
    500: ("api_error", 500, ""),
    502: ("api_error", 502, ""),
    503: ("overloaded_error", 529, ""),
    504: ("timeout_error", 504, ""),
    529: ("overloaded_error", 529, ""),
}


_DETAIL_LIMIT: Final = 600


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
                return _readable(message)[:_DETAIL_LIMIT]
        elif isinstance(error, str):
            return error[:_DETAIL_LIMIT]
        for key in ("message", "detail"):
            if data.get(key):
                return _readable(data[key])[:_DETAIL_LIMIT]
    return raw.decode("utf-8", "replace").strip()[:_DETAIL_LIMIT]


def _readable(message: Any) -> str:
    """A message as text; a validation report (Mistral's `{"detail": [{"loc": [...], "msg": ...}]}`,
    FastAPI's and vLLM's alike) as `where: what` items, so the client sees which field was refused."""
    if isinstance(message, dict) and "detail" in message:
        message = message["detail"]
    if not isinstance(message, list):
        return str(message)
    items = []
    for item in message:
        if isinstance(item, dict) and "msg" in item:
            where = ".".join(str(part) for part in item.get("loc") or ())
            items.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
        else:
            items.append(str(item))
    return "; ".join(items)


def from_upstream_status(
    status: int, detail: str, retry_after: str | None = None, location: str | None = None
) -> UpstreamError:
    """Build the error for an upstream answer with an error status (or a redirect, which is not followed)."""
    error_type: ErrorType
    if status in _UPSTREAM_STATUS:
        error_type, our_status, hint = _UPSTREAM_STATUS[status]
    elif 300 <= status < 400:
        error_type, our_status = "invalid_request_error", 400
        hint = f"the provider redirects to {location}; set its base URL to that address" if location else ""
    elif status >= 500:
        error_type, our_status, hint = "api_error", 500, ""
    else:
        error_type, our_status, hint = "invalid_request_error", 400, ""
    message = f"Upstream provider returned HTTP {status}"
    if detail:
        message += f": {detail}"
    if hint:
        message += f" ({hint})"
    retry_after = relayable_retry_after(retry_after)
    headers = {"retry-after": retry_after} if retry_after else None
    retryable = status in RETRYABLE_STATUSES or overloaded(detail)
    return UpstreamError(error_type, message, status=our_status, headers=headers, retryable=retryable)


_DELTA_SECONDS: Final = re.compile(r"\d{1,9}(?:\.\d{1,6})?")


def relayable_retry_after(value: str | None) -> str | None:
    """A provider's `retry-after` as the client may see it: seconds as written, an HTTP date written
    anew, and nothing else (a header value is the provider's to fill; only these shapes are passed on)."""
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return value
    try:
        return format_datetime(parsedate_to_datetime(value), usegmt=True)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# Statuses worth another attempt, on the same target or the next.
RETRYABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504, 529})
_OVERLOADED: Final = re.compile(r"overloaded|server is busy|over capacity|at capacity|temporarily unavailable", re.I)


def overloaded(detail: str) -> bool:
    """The provider says it is overloaded, whatever status it chose for saying so."""
    return bool(_OVERLOADED.search(detail))


class TargetUnfit(UpstreamError):
    """The routed model cannot take this request (too long for its window, tools it cannot call).
    A fallback target may (so the next one is tried); the same one never will (no retry)."""


class PromptTooLong(TargetUnfit):
    """A prompt over a target's window."""

    def __init__(self, tokens: int, maximum: int) -> None:
        message = f"prompt is too long: {tokens} tokens > {maximum} maximum"
        super().__init__("invalid_request_error", message, status=400)
        self.tokens = tokens
        self.maximum = maximum


def prompt_too_long(tokens: int, maximum: int) -> PromptTooLong:
    """Anthropic's own answer to a prompt over the window, word for word: Claude Code parses
    `prompt is too long: N tokens > M maximum` to compact just enough (a 400 `invalid_request_error`)."""
    return PromptTooLong(tokens, maximum)


# How providers say a request is over the model's window (lower case; Claude Code's own list of such
# wordings, plus xAI's, Mistral's, Ollama's and Anthropic's).
_CONTEXT_WORDINGS: Final = (
    "prompt is too long",
    "maximum context length",  # OpenAI, Azure, DeepSeek, Groq, OpenRouter, vLLM
    "context_length_exceeded",
    "exceeds the context window",
    "longer than the maximum model length",  # vLLM
    "longer than the model's context length",
    "exceeds the available context size",  # llama.cpp
    "exceed_context_size_error",
    "exceeds the maximum number of tokens allowed",  # Gemini
    "exceeded model token limit",
    "input token length too long",
    "input tokens exceed the configured limit",
    "maximum context limit",
    "maximum prompt length",  # xAI
    "prompt exceeds max length",
    "tokens in request more than max tokens allowed",
    "range of input length should be",
    "context window exceeds limit",
    "but model only supports up to",
    "reduce the length of the messages",
    "`inputs` tokens + `max_new_tokens` must be",  # Together (TGI)
    "context exceeds your deployment",
    "too large for model with",  # Mistral
    "exceeds context length",  # Ollama
)
# Patterns that give (input tokens, window[, tokens reserved for the completion]), first match wins.
_CONTEXT_NUMBERS: Final = tuple(
    re.compile(pattern, re.IGNORECASE | re.DOTALL)
    for pattern in (
        # OpenAI family: "maximum context length is 32768 tokens. However, you requested 33000 tokens
        # (25000 in the messages, 8000 in the completion)" / "your messages resulted in 40000 tokens"
        r"maximum context length is (?P<max>\d+).*?\((?P<tokens>\d+) in the messages, (?P<out>\d+) in the completion",
        r"maximum context length is (?P<max>\d+).*?(?:resulted in|requested about|requested) (?P<tokens>\d+)",
        # vLLM: "maximum context length is 32768 tokens and your request has 25000 input tokens (8000 > ...)"
        r"maximum context length is (?P<max>\d+).*?request has (?P<tokens>\d+) input tokens \((?P<out>\d+) >",
        r"prompt \(length (?P<tokens>\d+)\) is longer than the maximum model length of (?P<max>\d+)",
        r"input token count \((?P<tokens>\d+)\) exceeds the maximum number of tokens allowed \((?P<max>\d+)\)",
        r"prompt contains (?P<tokens>\d+) tokens.*?model with (?P<max>\d+) maximum",
        r"maximum prompt length is (?P<max>\d+) but the request contains (?P<tokens>\d+)",
        r"request \((?P<tokens>\d+) tokens\) exceeds the available context size \((?P<max>\d+) tokens\)",
        r'"n_prompt_tokens":\s*(?P<tokens>\d+).*?"n_ctx":\s*(?P<max>\d+)',
        r"must be <= (?P<max>\d+)\. given: (?P<tokens>\d+) `inputs` tokens and (?P<out>\d+)",
        r"prompt is too long: (?P<tokens>\d+) tokens > (?P<max>\d+)",
    )
)


def context_length_error(raw: str, estimate: int) -> UpstreamError | None:
    """A provider's "too long for the window" answer (`raw`: its error body) in Anthropic's wording,
    with the provider's numbers when they can be read, else `estimate` input tokens and a window a
    tenth below it; None when the answer is about something else. Where the provider counts the
    completion into the window, the maximum given is the room left for input."""
    lowered = raw.lower()
    if not any(wording in lowered for wording in _CONTEXT_WORDINGS):
        return None
    for pattern in _CONTEXT_NUMBERS:
        found = pattern.search(raw)
        if found is not None:
            tokens = int(found["tokens"])
            maximum = int(found["max"]) - int(found.groupdict().get("out") or 0)
            if tokens > maximum:
                return prompt_too_long(tokens, maximum)
            break
    tokens = max(estimate, 1)
    return prompt_too_long(tokens, tokens * 9 // 10)


def error_payload(error: ProxyError) -> ErrorBody:
    """The one Anthropic error shape: a response body, or the `error` event that ends a stream."""
    return {"type": "error", "error": {"type": error.error_type, "message": error.message}}


def error_body(error: ProxyError) -> bytes:
    return orjson.dumps(error_payload(error))
